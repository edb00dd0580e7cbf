"""The dedup index and match over synthetic PDQ fingerprints: no media, no services."""

import numpy as np
import pytest

from media import frame_index
from media.dedup_index import DedupIndex
from media.fingerprint import VIEWS, WORDS, Fingerprint, match

RNG = np.random.default_rng(7)


def random_fp(n: int, sha: str = "", *, still: bool = False) -> Fingerprint:
    """A dense (query-shaped) fingerprint: every frame in each view, as is and mirrored, 4 frames a second."""
    hashes = RNG.integers(0, 2**63, (n, len(VIEWS), 2, WORDS), dtype=np.int64).astype(np.uint64)
    fg = RNG.integers(0, 2**63, (n, len(VIEWS), 2, WORDS), dtype=np.int64).astype(np.uint64)
    return Fingerprint(sha, (np.arange(n, dtype=np.float32) + 0.5) / 4, hashes, fg, still)


def flip(words: np.ndarray, bits: int) -> np.ndarray:
    """Each 256-bit row of ``words`` (..., 4) with ``bits`` random bits flipped."""
    flat = words.reshape(-1, WORDS).copy()
    for row in flat:
        for b in RNG.choice(256, bits, replace=False):
            row[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return flat.reshape(words.shape)


def copy_of(fp: Fingerprint, bits: int, *, shift_s: float = 0.0, mirrored: bool = False) -> Fingerprint:
    """A re-post: every frame ``bits`` away, trimmed by ``shift_s``, optionally mirrored (orientations swapped)."""
    hashes = flip(fp.hashes, bits)
    fg = flip(fp.foreground, bits)
    if mirrored:
        hashes, fg = hashes[:, :, ::-1], fg[:, :, ::-1]
    return Fingerprint("", fp.times - shift_s, np.ascontiguousarray(hashes), np.ascontiguousarray(fg), fp.still)


@pytest.mark.parametrize("exhaustive", [True, False])
def test_finds_noisy_trimmed_and_mirrored_copies_and_nothing_else(exhaustive, monkeypatch):
    if not exhaustive:
        monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 0)
    index = DedupIndex()
    originals = {f"v{i}": random_fp(24) for i in range(300)}
    for vid, fp in originals.items():
        index.add(vid, fp.reference())
    for vid, mirrored in (("v3", False), ("v150", True), ("v299", False)):
        hits = index.lookup(copy_of(originals[vid], bits=30, shift_s=2.0, mirrored=mirrored))
        assert [h.video_id for h in hits] == [vid]
        m = hits[0].match
        assert m.offset_s == pytest.approx(-2.0) and not m.exact and m.mirrored == mirrored
        assert "at offset -2.00 s" in m.explain() and ("mirrored" in m.explain()) == mirrored
    assert index.lookup(random_fp(24)) == []


def test_exact_copies_by_sha_and_exclusion_and_removal():
    index = DedupIndex()
    fp = random_fp(10, sha="ab" * 32)
    index.add("orig", fp.reference())
    hits = index.lookup(fp)
    assert hits[0].video_id == "orig" and hits[0].match.exact
    assert hits[0].match.explain() == "the same file (identical bytes)"
    assert index.lookup(fp, exclude="orig") == []
    index.remove("orig")
    assert index.lookup(fp) == [] and len(index) == 0


def still_scene(scene: np.ndarray, n: int = 24) -> Fingerprint:
    """A take from a fixed camera: every frame's picture a few bits from the scene's, its own foreground."""
    hashes = flip(np.repeat(scene, n, axis=0), 5)
    return Fingerprint("", (np.arange(n, dtype=np.float32) + 0.5) / 4, hashes, random_fp(n).foreground, True)


def test_a_still_scene_needs_its_moving_content_to_match():
    """Two takes from one fixed camera share every picture hash but not the foreground: no match. A copy of
    one take shares the foreground: a match, said to be decided on the moving content. A re-encode that keeps
    the picture to the noise (closer in step than out of step) is the same footage."""
    scene = random_fp(1).hashes
    take, other_take = still_scene(scene), still_scene(scene)
    assert not match(other_take, take.reference()).duplicate
    copy = copy_of(take, bits=25)
    m = match(copy, take.reference())
    assert m.duplicate and m.foreground and "moving content" in m.explain()
    faithful = Fingerprint("", take.times, flip(take.hashes, 1), np.zeros_like(take.foreground), True)
    m = match(faithful, take.reference())
    assert m.duplicate and not m.foreground
    # A still photo with music: no foreground, every frame alike; only the bytes can tell.
    photo = Fingerprint("", take.times, np.repeat(scene, 24, axis=0), np.zeros_like(take.foreground), True)
    assert not match(Fingerprint("", photo.times, flip(photo.hashes, 2), photo.foreground, True),
                     photo.reference()).duplicate


def test_fingerprints_round_trip_through_bytes_and_refuse_garbage():
    fp = random_fp(9, sha="cd" * 32, still=True).reference()
    back = Fingerprint.from_bytes(fp.to_bytes())
    assert back.sha256 == fp.sha256 and back.still and np.array_equal(back.times, fp.times)
    assert np.array_equal(back.hashes, fp.hashes) and np.array_equal(back.foreground, fp.foreground)
    assert back.hashes.shape == (5, len(VIEWS), 1, WORDS)  # two frames a second of 2.25 s, upright only
    with pytest.raises(ValueError, match="not a PDQ"):
        Fingerprint.from_bytes(b"garbage")
    with pytest.raises(ValueError, match="truncated"):
        Fingerprint.from_bytes(fp.to_bytes()[:-3])


def test_bulk_keys_load_their_fingerprints_only_as_candidates():
    """At a million videos only stage one's keys sit in memory; a candidate's fingerprint is loaded."""
    from media.dedup_index import foreground_keys, reference_keys

    refs = {f"v{i}": random_fp(16).reference() for i in range(50)}
    loaded: list[str] = []

    def load(video_id: str) -> Fingerprint:
        loaded.append(video_id)
        return refs[video_id]

    original = random_fp(16)
    refs["v7"] = original.reference()  # what the catalog holds for v7
    index = DedupIndex(load=load)
    keys = [reference_keys(fp) for fp in refs.values()]
    starts = np.concatenate([[0], np.cumsum([len(k) for k in keys])])
    moving = [foreground_keys(fp) for fp in refs.values()]
    moving_starts = np.concatenate([[0], np.cumsum([len(k) for k in moving])])
    index.add_keys(list(refs), np.concatenate(keys), starts, np.concatenate(moving), moving_starts)
    hits = index.lookup(copy_of(original, bits=30, mirrored=True))
    assert [h.video_id for h in hits] == ["v7"] and hits[0].match.mirrored
    assert "v7" in loaded and len(set(loaded)) < len(refs)  # not every video was fetched
    sticker = Fingerprint("", original.times, random_fp(16).hashes, flip(original.foreground, 20), False)
    assert [h.video_id for h in index.lookup(sticker)] == ["v7"]  # through the bulk-loaded foreground keys
    with pytest.raises(ValueError, match="loader"):
        DedupIndex().add_keys(["x"], keys[0], np.asarray([0, len(keys[0])]))
    with pytest.raises(ValueError, match="moving_starts"):
        DedupIndex(load=load).add_keys(["x"], keys[0], np.asarray([0, len(keys[0])]), moving[0])


def test_a_copy_whose_picture_is_lost_is_found_through_the_foreground_index(monkeypatch):
    """A sticker or caption bar can move a copy's picture beyond what the picture index finds among many
    videos; its foreground (what moved) stays close, and the foreground's own index names the original."""
    monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 0)  # the multi-index path, as at scale
    index = DedupIndex()
    originals = {f"v{i}": random_fp(24) for i in range(300)}
    for vid, fp in originals.items():
        index.add(vid, fp.reference())
    original = originals["v42"]
    unrelated_picture = random_fp(24).hashes  # nothing of the picture survives
    fg = flip(original.foreground, 20)
    query = Fingerprint("", original.times, unrelated_picture, fg, False)
    assert "v42" in index.candidates(query)
    hits = index.lookup(query)
    assert [h.video_id for h in hits] == ["v42"] and hits[0].match.foreground
    assert "moving content" in hits[0].match.explain()
    index.remove("v42")
    assert index.lookup(query) == [] and "v42" not in index.candidates(query)
