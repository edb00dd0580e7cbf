from fractions import Fraction
from pathlib import Path

import m3u8
import pytest

from media.hls import AudioRendition, PlaylistStats, VideoVariant, build_master, measure_media_playlist


def _stats(peak: int, avg: int) -> PlaylistStats:
    return PlaylistStats(peak_bps=peak, average_bps=avg, target_duration=2, segment_count=3, duration_s=6.0)


def test_master_folds_audio_into_bandwidth_and_codecs_and_sorts_best_first():
    variants = [
        VideoVariant("360p/index.m3u8", 640, 360, Fraction(30), "avc1.64001E", _stats(700_000, 500_000)),
        VideoVariant("720p/index.m3u8", 1280, 720, Fraction(30000, 1001), "avc1.64001F", _stats(2_600_000, 2_000_000)),
    ]
    audio = AudioRendition("audio/index.m3u8", "mp4a.40.2", 2, _stats(131_000, 129_000))
    master = m3u8.loads(build_master(variants, audio))
    assert master.is_variant and master.is_independent_segments
    top, low = master.playlists
    assert top.uri == "720p/index.m3u8"
    assert top.stream_info.bandwidth == 2_600_000 + 131_000
    assert top.stream_info.average_bandwidth == 2_000_000 + 129_000
    assert top.stream_info.resolution == (1280, 720)
    assert top.stream_info.codecs == "avc1.64001F,mp4a.40.2"
    assert top.stream_info.frame_rate == pytest.approx(29.97, abs=0.001)
    assert top.stream_info.audio == "aud"
    assert low.stream_info.bandwidth == 831_000
    (media,) = master.media
    assert (media.type, media.group_id, media.default, media.uri) == ("AUDIO", "aud", "YES", "audio/index.m3u8")


def test_master_without_audio_has_no_group():
    v = VideoVariant("240p/index.m3u8", 426, 240, Fraction(25), "avc1.640015", _stats(300_000, 250_000))
    master = m3u8.loads(build_master([v], None))
    assert master.media == [] or len(master.media) == 0
    assert master.playlists[0].stream_info.codecs == "avc1.640015"
    assert master.playlists[0].stream_info.audio is None


def test_master_needs_a_variant():
    with pytest.raises(ValueError, match="at least one"):
        build_master([], None)


def test_measure_uses_segment_sizes_and_durations(tmp_path: Path):
    (tmp_path / "a.m4s").write_bytes(b"x" * 250_000)  # 2 s -> 1 Mb/s
    (tmp_path / "b.m4s").write_bytes(b"x" * 500_000)  # 2 s -> 2 Mb/s (the peak)
    (tmp_path / "c.m4s").write_bytes(b"x" * 10_000)  # short tail must not dominate the peak
    (tmp_path / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXTINF:2.0,\na.m4s\n#EXTINF:2.0,\nb.m4s\n#EXTINF:0.1,\nc.m4s\n#EXT-X-ENDLIST\n")
    stats = measure_media_playlist(tmp_path / "index.m3u8")
    assert stats.peak_bps == 2_000_000
    assert stats.average_bps == pytest.approx(760_000 * 8 / 4.1, rel=1e-6, abs=1)
    assert (stats.segment_count, stats.target_duration) == (3, 2)


def test_peak_never_falls_below_average_with_a_dense_short_tail(tmp_path: Path):
    (tmp_path / "a.m4s").write_bytes(b"x" * 32_700)  # ~130 kb/s over 2 s
    (tmp_path / "b.m4s").write_bytes(b"x" * 400)  # 0.02 s tail: 160 kb/s when taken literally
    (tmp_path / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na.m4s\n#EXTINF:0.02,\nb.m4s\n#EXT-X-ENDLIST\n")
    stats = measure_media_playlist(tmp_path / "index.m3u8")
    assert stats.average_bps <= stats.peak_bps


def test_measure_rejects_an_empty_playlist(tmp_path: Path):
    (tmp_path / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n")
    with pytest.raises(ValueError, match="no segments"):
        measure_media_playlist(tmp_path / "index.m3u8")
