"""The sound clip core: the first N seconds of a file's audio as AAC in an .m4a, nothing for a silent file."""

import av
import pytest

from media.samples import make_clip
from media.sound_clip import clip_duration_s, write_sound_clip


def test_the_clip_is_the_first_seconds_of_the_audio_as_aac_without_video(tmp_path):
    src = make_clip(tmp_path / "a.mp4", width=160, height=120, seconds=3.0, audio=True)
    clip = write_sound_clip(src, tmp_path / "out" / "clip.m4a", max_seconds=1.5)
    assert clip is not None and clip.path.exists() and clip.bytes == clip.path.stat().st_size
    assert clip.duration_s == 1.5
    with av.open(str(clip.path)) as f:
        assert not f.streams.video and f.streams.audio[0].codec_context.name == "aac"
        assert f.streams.audio[0].codec_context.sample_rate == 48_000
    assert 1.4 <= clip_duration_s(clip.path) <= 1.6


def test_a_short_track_is_kept_whole_and_a_silent_file_makes_no_clip(tmp_path):
    src = make_clip(tmp_path / "a.mp4", width=160, height=120, seconds=1.0, audio=True)
    clip = write_sound_clip(src, tmp_path / "clip.m4a")
    assert clip is not None and 0.9 <= clip.duration_s <= 1.1
    silent = make_clip(tmp_path / "s.mp4", width=160, height=120, seconds=1.0, audio=False)
    assert write_sound_clip(silent, tmp_path / "none.m4a") is None
    assert not (tmp_path / "none.m4a").exists()
    with pytest.raises(ValueError):
        write_sound_clip(src, tmp_path / "x.m4a", max_seconds=0)
