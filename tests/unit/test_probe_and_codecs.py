from pathlib import Path

import pytest

from media.codecs import video_codec_string
from media.errors import MediaError
from media.probe import SourceInfo, probe


def test_probe_describes_a_real_clip(clips):
    info = probe(clips["landscape"])
    assert (info.width, info.height, info.fps) == (640, 360, 30)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.audio is not None and info.audio.codec == "aac"
    assert SourceInfo.from_dict(info.as_dict()) == info
    assert probe(clips["portrait"]).audio is None


@pytest.mark.parametrize("name,code", [("text", "not_media"), ("truncated", "truncated")])
def test_hostile_files_are_rejected_with_a_named_reason(clips, name, code):
    with pytest.raises(MediaError) as err:
        probe(clips[name])
    assert err.value.code == code
    assert err.value.message


def test_empty_and_audio_only_files(tmp_path: Path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(empty)
    import av

    audio_only = tmp_path / "tone.m4a"
    with av.open("sine=duration=1", format="lavfi") as src, av.open(str(audio_only), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        for frame in src.decode(audio=0):
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaError) as err:
        probe(audio_only)
    assert err.value.code == "no_video_stream"


def test_codec_string_comes_from_avcc():
    init = b"\x00\x00\x00\x0fftyp" + b"\x00\x00\x00\x0davcC\x01\x64\x00\x1f\xff"
    assert video_codec_string(init) == "avc1.64001F"
    with pytest.raises(ValueError, match="avcC"):
        video_codec_string(b"no boxes here")
