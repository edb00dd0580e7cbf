from fractions import Fraction

import pytest

from media.errors import MediaError
from media.limits import Limits, check_limits
from media.probe import SourceInfo


def info(**over) -> SourceInfo:
    base = dict(container="mp4", size_bytes=1_000_000, duration_s=10.0, video_codec="h264", width=1920,
                height=1080, fps=Fraction(30), pix_fmt="yuv420p", bit_rate=None, audio=None)
    return SourceInfo(**{**base, **over})


def test_a_normal_phone_video_passes():
    check_limits(info(), Limits())
    check_limits(info(width=1080, height=1920, rotation=90, pix_fmt="yuv420p10le", fps=Fraction(60)), Limits())


@pytest.mark.parametrize("over,code", [
    ({"size_bytes": 300 * 2**20}, "too_large"), ({"duration_s": 0.4}, "too_short"), ({"duration_s": 200}, "too_long"),
    ({"width": 100, "height": 100}, "resolution_too_low"), ({"width": 5000}, "resolution_too_high"),
    ({"fps": Fraction(1000)}, "bad_frame_rate"), ({"fps": Fraction(1, 2)}, "bad_frame_rate"),
    ({"pix_fmt": "pal8"}, "unsupported_pixel_format"),
])
def test_each_limit_names_itself(over, code):
    with pytest.raises(MediaError) as err:
        check_limits(info(**over), Limits())
    assert err.value.code == code and err.value.message


def test_limits_are_configurable():
    check_limits(info(duration_s=200), Limits(max_duration_s=300))
