"""The multipart plan and its checks without a server: part sizes within S3's rules, one part per number out of
SeaweedFS's duplicate listings, what completion refuses, the progress bar and the resume state's key."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from adapters.s3_multipart import MAX_PARTS, MIN_PART_BYTES, StoredPart, UploadNotFound, part_size_for, part_sizes
from jobs import uploads
from reelflow.creator_client import state_path
from reelflow.progress import ProgressBar

MIB = 2**20
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("total,part,expected", [
    (10, 4, [4, 4, 2]), (8, 4, [4, 4]), (1, 4, [1]), (0, 4, [0]),
])
def test_part_sizes_are_full_parts_then_the_rest(total, part, expected):
    assert part_sizes(total, part) == expected
    assert sum(part_sizes(total, part)) == total


def test_part_size_respects_the_s3_minimum_and_the_part_count_limit():
    assert part_size_for(100 * MIB, 1 * MIB) == MIN_PART_BYTES
    assert part_size_for(100 * MIB, 8 * MIB) == 8 * MIB
    huge = MAX_PARTS * 8 * MIB + 1
    size = part_size_for(huge, 8 * MIB)
    assert size == 9 * MIB and len(part_sizes(huge, size)) <= MAX_PARTS


def _part(n: int, size: int, etag: str, seconds: int = 0) -> StoredPart:
    return StoredPart(n, size, etag, T0 + timedelta(seconds=seconds))


def test_duplicate_listings_keep_the_latest_part_of_the_planned_length():
    sizes = {1: 5, 2: 3}
    stored = [_part(1, 5, "old", 0), _part(1, 5, "new", 1), _part(1, 4, "short", 2), _part(2, 3, "only")]
    usable = uploads._usable(stored, sizes)
    assert {n: p.etag for n, p in usable.items()} == {1: "new", 2: "only"}


class FakeStore:
    def __init__(self, parts: list[StoredPart] | None) -> None:
        self.parts, self.completed = parts, None

    def list_parts(self, bucket, key, upload_id):
        if self.parts is None:
            raise UploadNotFound(key)
        return self.parts

    def complete(self, bucket, key, upload_id, etags):
        self.completed = etags


def test_completion_names_missing_and_wrong_length_parts_and_joins_the_rest():
    with pytest.raises(uploads.PartsMissing, match="parts 2, 3 of 3 are not uploaded") as missing:
        uploads.complete_multipart(FakeStore([_part(1, 5, "a")]), "b", "k", "u", size=13, part_size=5)
    assert missing.value.numbers == [2, 3]
    with pytest.raises(uploads.PartsMismatch, match="part 2 holds 6 bytes, not 5"):
        uploads.complete_multipart(FakeStore([_part(1, 5, "a"), _part(2, 6, "b"), _part(3, 3, "c")]), "b", "k", "u",
                                   size=13, part_size=5)
    store = FakeStore([_part(3, 3, "c"), _part(1, 5, "a"), _part(2, 5, "b")])
    assert uploads.complete_multipart(store, "b", "k", "u", size=13, part_size=5) is True
    assert store.completed == {1: "a", 2: "b", 3: "c"}
    assert uploads.complete_multipart(FakeStore(None), "b", "k", "u", size=13, part_size=5) is False


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_in_place_on_a_terminal_and_writes_steps_elsewhere():
    log = io.StringIO()
    bar = ProgressBar("clip.mp4", stream=log, width=10)
    for done in range(0, 101, 5):
        bar(done * MIB, 100 * MIB)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1] == "clip.mp4 [##########] 100% 100.0/100.0 MiB"
    term = Tty()
    bar = ProgressBar("clip.mp4", stream=term, width=10)
    bar(MIB, 4 * MIB)
    bar(4 * MIB, 4 * MIB)
    bar.close()
    assert term.getvalue() == ("\rclip.mp4 [##........]  25% 1.0/4.0 MiB"
                               "\rclip.mp4 [##########] 100% 4.0/4.0 MiB\n")


def test_resume_state_is_keyed_by_api_file_and_version(tmp_path):
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"one")
    first = state_path(tmp_path, "http://api", clip)
    assert first == state_path(tmp_path, "http://api/", clip)
    assert first != state_path(tmp_path, "http://other", clip)
    clip.write_bytes(b"edited")
    assert first != state_path(tmp_path, "http://api", clip)
