import pytest

from cdn_sim.ranges import ByteRange, RangeNotSatisfiable, parse_range


@pytest.mark.parametrize("header,expected", [
    (None, None),
    ("bytes=0-99", ByteRange(0, 99)),
    ("bytes=100-", ByteRange(100, 999)),
    ("bytes=-100", ByteRange(900, 999)),
    ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the object is the whole object
    ("bytes=990-5000", ByteRange(990, 999)),  # the end is clamped
    ("bytes=999-999", ByteRange(999, 999)),
    (" Bytes = 0-0", ByteRange(0, 0)),
    ("items=0-5", None),  # another unit: ignored, 200
    ("bytes=0-1,5-6", None),  # several ranges: answered with the whole object
])
def test_single_open_and_suffix_ranges(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=5-1", "bytes=abc", "bytes=", "bytes=-", "bytes=1-2-3",
    "bytes=0x10-20", "bytes=" + "9" * 40 + "-", "bytes=" + ",".join(["0-1"] * 50), "bytes=0-1," + "x" * 2000,
])
def test_unsatisfiable_or_invalid_ranges_raise(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_empty_representation_has_no_satisfiable_range():
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-10", 0)


def test_content_range_header():
    assert ByteRange(0, 99).content_range(1000) == "bytes 0-99/1000"
    assert ByteRange(900, 999).length == 100
