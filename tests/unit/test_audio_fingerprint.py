"""The soundtrack's print: the same sound survives a low-bitrate AAC re-encode, a gain change and a trim, and
is found at the right offset; other speech is not; silence and missing or broken tracks give an empty print."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from media import audio_fingerprint as af
from media.audio_fingerprint import AudioPrint
from media.fingerprint import fingerprint_file
from media.samples import Soundtrack, make_clip, make_variant

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng (a Debian package ./dev setup installs) speaks the test audio")


def clip(path, sound: Soundtrack | None, seconds: float = 6.0):
    return make_clip(path, width=160, height=96, seconds=seconds, audio=sound is not None, soundtrack=sound)


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    return d, clip(d / "talk.mp4", Soundtrack(speech=(0, 1), ambience="pink", ambience_seed=1))


@needs_espeak
def test_the_same_speech_re_encoded_at_32_kbps_and_6_db_quieter_matches_at_its_offset(talk):
    d, original = talk
    copy = make_variant(original, d / "copy.mp4", start_s=1.5, crf=38, audio_bitrate=32_000, audio_gain_db=-6.0)
    intro = make_variant(original, d / "intro.mp4", black_intro_s=2.0, audio_bitrate=32_000)
    ref = af.fingerprint_file(original)
    m = af.compare(af.fingerprint_file(copy), ref)
    assert m is not None and m.same and m.ber < 0.25
    assert m.offset_s == pytest.approx(-1.5, abs=0.05)  # the copy starts 1.5 s into the original
    m = af.compare(af.fingerprint_file(intro), ref)
    assert m is not None and m.same and m.offset_s == pytest.approx(2.0, abs=0.05)


@needs_espeak
def test_other_speech_by_the_same_voice_is_clearly_different(talk):
    d, original = talk
    other = clip(d / "other.mp4", Soundtrack(speech=(2, 3), ambience="pink", ambience_seed=2))
    m = af.compare(af.fingerprint_file(other), af.fingerprint_file(original))
    assert m is not None and m.different and not m.same


def test_one_music_bed_under_two_clips_matches_on_audio(tmp_path):
    """A shared sound is the same audio: the print cannot tell the clips apart (the picture must)."""
    a = af.fingerprint_file(clip(tmp_path / "a.mp4", Soundtrack(music=7), 4.0))
    b = af.fingerprint_file(clip(tmp_path / "b.mp4", Soundtrack(music=7), 4.0))
    m = af.compare(a, b)
    assert m is not None and m.same and m.offset_s == pytest.approx(0.0, abs=0.05)


def test_no_audio_track_and_silence_give_an_empty_print(tmp_path):
    mute = af.fingerprint_file(clip(tmp_path / "mute.mp4", None, 3.0))
    assert len(mute) == 0 and not mute.audible
    silent = af.fingerprint_file(clip(tmp_path / "silent.mp4", Soundtrack(), 4.0))  # a track of zeros
    assert len(silent) > 0 and not silent.loud.any() and not silent.audible
    assert af.compare(silent, silent) is None and af.compare(mute, silent) is None
    assert not af.fingerprint_pcm(np.zeros(100, np.float32)).audible


def test_gain_does_not_change_the_bits():
    pcm = np.random.default_rng(3).standard_normal(8000 * 5).astype(np.float32) * 0.1
    a, b = af.fingerprint_pcm(pcm), af.fingerprint_pcm(pcm * 0.25)
    assert np.count_nonzero(a.hashes != b.hashes) <= 0.01 * len(a) and (a.loud == b.loud).all()


def broken_audio_copy(src, dst) -> None:
    """``src`` with every audio packet replaced by random bytes of its size (the video packets untouched)."""
    rng = np.random.default_rng(0)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for p in inp.demux():
            if p.dts is None:
                continue
            if p.stream.type == "audio":
                garbage = av.Packet(rng.integers(0, 256, p.size, dtype=np.uint8).tobytes())
                garbage.pts, garbage.dts, garbage.time_base = p.pts, p.dts, p.time_base
                garbage.stream = streams[p.stream.index]
                out.mux(garbage)
            else:
                p.stream = streams[p.stream.index]
                out.mux(p)


def test_a_broken_audio_stream_leaves_the_video_fingerprint_whole(tmp_path):
    good = clip(tmp_path / "good.mp4", Soundtrack(music=3), 3.0)
    broken = tmp_path / "broken.mp4"
    broken_audio_copy(good, broken)
    with pytest.raises(av.FFmpegError):
        af.decode_mono(broken)
    assert len(af.fingerprint_file(broken)) == 0
    fp = fingerprint_file(broken)
    assert len(fp) == len(fingerprint_file(good)) > 0 and not fp.audio.audible
    not_media = tmp_path / "x.mp4"
    not_media.write_bytes(b"\x00" * 100)
    assert len(af.fingerprint_file(not_media)) == 0


def test_the_print_round_trips_and_refuses_truncation():
    rng = np.random.default_rng(1)
    p = AudioPrint(rng.integers(0, 2**32, 37, dtype=np.uint32), rng.random(37) > 0.3)
    back = AudioPrint.from_bytes(p.to_bytes())
    assert (back.hashes == p.hashes).all() and (back.loud == p.loud).all()
    with pytest.raises(ValueError):
        AudioPrint.from_bytes(p.to_bytes()[:-1])
    with pytest.raises(ValueError):
        AudioPrint.from_bytes(b"RFP2" + p.to_bytes()[4:])
