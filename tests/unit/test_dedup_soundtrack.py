"""The soundtrack in the match, over synthetic prints (no media): it settles a still scene whose picture lines
up but is not near enough to be the same footage, vetoes a near picture when both sounds clearly differ, and
never makes a match on its own (one music bed under many clips)."""

import struct

import numpy as np
import pytest

from media.audio_fingerprint import HOP_S, AudioPrint
from media.fingerprint import VIEWS, WORDS, Fingerprint, match, match_either_way

RNG = np.random.default_rng(11)


def random_fp(n: int, *, still: bool = False, audio: AudioPrint | None = None) -> Fingerprint:
    hashes = RNG.integers(0, 2**63, (n, len(VIEWS), 2, WORDS), dtype=np.int64).astype(np.uint64)
    fg = RNG.integers(0, 2**63, (n, len(VIEWS), 2, WORDS), dtype=np.int64).astype(np.uint64)
    return Fingerprint("", (np.arange(n, dtype=np.float32) + 0.5) / 4, hashes, fg, still,
                       audio or AudioPrint.empty())


def flip(words: np.ndarray, bits: int) -> np.ndarray:
    flat = words.reshape(-1, WORDS).copy()
    for row in flat:
        for b in RNG.choice(256, bits, replace=False):
            row[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return flat.reshape(words.shape)


def sound(frames: int = 250) -> AudioPrint:
    return AudioPrint(RNG.integers(0, 2**32, frames, dtype=np.uint32), np.ones(frames, bool))


def re_encoded(audio: AudioPrint, *, later_frames: int = 0, ber: float = 0.15) -> AudioPrint:
    """The same sound ``later_frames`` later (silence before it), ``ber`` of its bits flipped."""
    noise = (RNG.random((len(audio), 32)) < ber) @ (1 << np.arange(32, dtype=np.uint64))
    hashes = audio.hashes ^ noise.astype(np.uint32)
    pad = np.zeros(later_frames, np.uint32)
    return AudioPrint(np.r_[pad, hashes].astype(np.uint32), np.r_[np.zeros(later_frames, bool), audio.loud])


def take(scene: np.ndarray, audio: AudioPrint | None = None, n: int = 24) -> Fingerprint:
    """A take from a fixed camera: every picture a few bits from the scene's, its own foreground and sound."""
    hashes = flip(np.repeat(scene, n, axis=0), 5)
    return Fingerprint("", (np.arange(n, dtype=np.float32) + 0.5) / 4, hashes, random_fp(n).foreground, True,
                       audio or AudioPrint.empty())


def hard_repost(of: Fingerprint, audio: AudioPrint | None) -> Fingerprint:
    """A still scene re-encoded hard: the picture 25 bits off (close, but no closer than another take), no
    foreground left."""
    return Fingerprint("", of.times, flip(of.hashes, 25), np.zeros_like(of.foreground), True,
                       audio or AudioPrint.empty())


def test_a_hard_repost_of_a_still_scene_is_found_by_its_soundtrack_at_its_offset():
    scene, track = random_fp(1).hashes, sound()
    original = take(scene, track)
    later = 32  # the copy's sound sits 32 frames (1.02 s) later: the picture must line up there too
    copy = hard_repost(original, re_encoded(track, later_frames=later))
    assert not match(hard_repost(original, None), original.reference()).duplicate  # the picture alone cannot
    m = match(copy, original.reference())
    assert m.duplicate and m.soundtrack is not None
    assert m.soundtrack.offset_s == pytest.approx(later * HOP_S, abs=1e-6)
    assert abs(m.offset_s - m.soundtrack.offset_s) <= 0.375
    assert "and the soundtrack matches at offset +1.02 s" in m.explain()
    assert match_either_way(copy, original.reference()).duplicate


def test_another_take_with_other_sound_or_sound_on_one_side_only_is_no_copy():
    scene = random_fp(1).hashes
    original = take(scene, sound())
    assert not match(hard_repost(original, sound()), original.reference()).duplicate  # other sound
    assert not match(hard_repost(original, None), original.reference()).duplicate  # the copy is mute
    mute_original = take(scene)
    assert not match(hard_repost(mute_original, sound()), mute_original.reference()).duplicate


def test_clearly_different_sound_vetoes_a_near_still_picture_but_not_the_moving_content():
    scene, track = random_fp(1).hashes, sound()
    original = take(scene, track)
    faithful = Fingerprint("", original.times, flip(original.hashes, 1), np.zeros_like(original.foreground), True)
    assert match(faithful, original.reference()).duplicate  # no sound on one side: the picture decides
    same = Fingerprint("", faithful.times, faithful.hashes, faithful.foreground, True, re_encoded(track))
    m = match(same, original.reference())
    assert m.duplicate and "soundtrack matches" in m.explain()
    other = Fingerprint("", faithful.times, faithful.hashes, faithful.foreground, True, sound())
    assert not match(other, original.reference()).duplicate  # e.g. a still image re-used under other sound
    # What moved is still the same: a copy whose sound was replaced is found on its foreground.
    moving_copy = Fingerprint("", original.times, flip(original.hashes, 1), flip(original.foreground, 20), True,
                              sound())
    m = match(moving_copy, original.reference())
    assert m.duplicate and m.foreground and m.soundtrack is None


def test_one_music_bed_under_different_clips_never_makes_a_match():
    """Short-video apps let thousands of clips share one sound: the audio alone proves nothing."""
    bed = sound()
    a, b = random_fp(24, audio=bed), random_fp(24, audio=re_encoded(bed))
    assert not match(a, b.reference()).duplicate and not match_either_way(a, b.reference()).duplicate
    still_a = take(random_fp(1).hashes, bed)
    still_b = take(random_fp(1).hashes, re_encoded(bed))  # two other still scenes (photos with one song)
    assert not match(still_a, still_b.reference()).duplicate
    flat = Fingerprint("", np.zeros(0, np.float32), np.zeros((0, len(VIEWS), 2, WORDS), np.uint64),
                       np.zeros((0, len(VIEWS), 2, WORDS), np.uint64), True, bed)  # textureless: no picture
    assert not match(flat, Fingerprint("", flat.times, flat.hashes[:, :, :1], flat.foreground[:, :, :1], True,
                                       re_encoded(bed))).duplicate


def test_moving_clips_are_decided_on_the_picture_whatever_the_sound():
    original = random_fp(24, audio=sound())
    copy = Fingerprint("", original.times, flip(original.hashes, 20), original.foreground, False, sound())
    m = match(copy, original.reference())
    assert m.duplicate and m.soundtrack is None


def old_format_bytes(fp: Fingerprint) -> bytes:
    """What the engine stored before the soundtrack (RFP2): the same layout with nothing after the pictures."""
    n, views, orients, words = fp.hashes.shape
    sha = fp.sha256.encode()
    return (b"RFP2" + struct.pack("<IBBB?B", n, views, orients, words, fp.still, len(sha)) + sha
            + fp.times.astype("<f4").tobytes() + fp.hashes.astype("<u8").tobytes()
            + fp.foreground.astype("<u8").tobytes())


def test_fingerprints_with_sound_round_trip_and_old_prints_still_load():
    fp = Fingerprint("ef" * 32, *[getattr(random_fp(9, still=True).reference(), k)
                                  for k in ("times", "hashes", "foreground", "still")], sound(77))
    back = Fingerprint.from_bytes(fp.to_bytes())
    assert back.sha256 == fp.sha256 and back.still and np.array_equal(back.hashes, fp.hashes)
    assert np.array_equal(back.audio.hashes, fp.audio.hashes) and np.array_equal(back.audio.loud, fp.audio.loud)
    old = Fingerprint.from_bytes(old_format_bytes(fp))
    assert np.array_equal(old.hashes, fp.hashes) and np.array_equal(old.foreground, fp.foreground)
    assert len(old.audio) == 0 and not old.audio.audible
    assert old.to_bytes()[:4] == b"RFP3"  # re-saved in the current form
    for broken in (fp.to_bytes()[:-1], old_format_bytes(fp)[:-1], old_format_bytes(fp) + b"\x00",
                   fp.to_bytes()[:-len(fp.audio.to_bytes()) + 5]):
        with pytest.raises(ValueError, match="truncated|not an audio"):
            Fingerprint.from_bytes(broken)


def test_the_index_proposes_a_still_scene_by_its_soundtrack_when_no_picture_key_is_within_reach():
    """Stage one keys the stored picture by its central view: a hard re-post of a still scene may have no key
    near it and no foreground left. Still scenes' soundtracks are keyed too (moving videos' are not: their
    picture decides whatever the sound)."""
    from media.dedup_index import DedupIndex, sound_keys, stored_sound_keys

    scene, track = random_fp(1).hashes, sound()
    original = take(scene, track)
    hashes = RNG.integers(0, 2**63, original.hashes.shape, dtype=np.int64).astype(np.uint64)
    hashes[:, 0] = flip(original.hashes[:, 0], 25)  # only the whole view survives (a crop moved the others)
    copy = Fingerprint("", original.times, hashes, np.zeros_like(original.foreground), True,
                       re_encoded(track, later_frames=5))
    moving = random_fp(24, audio=track)
    assert len(stored_sound_keys(original.reference())) == len(track) // 8 and len(stored_sound_keys(moving)) == 0
    assert len(sound_keys(copy.audio)) == len(track) - 7

    def lookup(index: DedupIndex) -> list[str]:
        return [h.video_id for h in index.lookup(copy)]

    index = DedupIndex()
    index.add("moving", moving.reference())
    index.add("original", original.reference())
    assert lookup(index) == ["original"]
    assert "soundtrack matches" in index.lookup(copy)[0].match.explain()
    mute = DedupIndex()
    mute.add("original", Fingerprint("", original.times, original.hashes, original.foreground, True).reference())
    assert lookup(mute) == []  # the picture's keys alone do not reach it
    index.remove("original")
    only_moving = DedupIndex()
    only_moving.add("moving", moving.reference())
    assert lookup(index) == [] and index.keys == only_moving.keys  # its soundtrack keys went with it
