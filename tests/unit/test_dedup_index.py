import numpy as np
import pytest

from media import dedup_index
from media.dedup_index import DedupIndex
from media.fingerprint import Fingerprint, match

RNG = np.random.default_rng(7)


def random_fp(n: int, sha: str = "") -> Fingerprint:
    hashes = RNG.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(RNG.integers(2))
    return Fingerprint(sha, np.arange(n, dtype=np.float32) + 0.5, hashes)


def noisy_copy(fp: Fingerprint, bits: int, shift_s: float = 0.0) -> Fingerprint:
    """A dense query whose frames sit ``bits`` apart from the reference, trimmed by ``shift_s``."""
    flips = np.zeros(len(fp), np.uint64)
    for i in range(len(fp)):
        for b in RNG.choice(64, bits, replace=False):
            flips[i] |= np.uint64(1) << np.uint64(int(b))
    return Fingerprint("", fp.times - shift_s, fp.hashes ^ flips)


@pytest.mark.parametrize("exhaustive", [True, False])
def test_finds_noisy_trimmed_copies_and_nothing_else(exhaustive, monkeypatch):
    if not exhaustive:
        monkeypatch.setattr(dedup_index, "EXHAUSTIVE_FRAMES", 0)
    index = DedupIndex()
    originals = {f"v{i}": random_fp(12) for i in range(300)}
    for vid, fp in originals.items():
        index.add(vid, fp)
    for vid in ("v3", "v150", "v299"):
        hits = index.lookup(noisy_copy(originals[vid], bits=4, shift_s=2.0))
        assert [h.video_id for h in hits] == [vid]
        assert hits[0].match.offset_s == pytest.approx(-2.0) and not hits[0].match.exact
    assert index.lookup(random_fp(12)) == []


def test_exact_copies_by_sha_and_exclusion_and_removal():
    index = DedupIndex()
    fp = random_fp(10, sha="ab" * 32)
    index.add("orig", fp)
    hits = index.lookup(Fingerprint("ab" * 32, fp.times, fp.hashes))
    assert hits[0].video_id == "orig" and hits[0].match.exact
    assert index.lookup(fp, exclude="orig") == []
    index.remove("orig")
    assert index.lookup(fp) == [] and len(index) == 0


def test_save_and_load_round_trip(tmp_path):
    index = DedupIndex()
    originals = {f"v{i}": random_fp(8) for i in range(50)}
    for vid, fp in originals.items():
        index.add(vid, fp)
    index.remove("v7")
    index.save(tmp_path / "index.npz")
    loaded = DedupIndex.load(tmp_path / "index.npz")
    assert len(loaded) == 49
    assert loaded.lookup(noisy_copy(originals["v9"], 3))[0].video_id == "v9"
    assert loaded.lookup(originals["v7"]) == []


def test_match_needs_agreement_at_one_offset():
    ref = random_fp(10)
    # Same frames, shuffled in time: each frame matches somewhere, but no single trim explains them.
    order = RNG.permutation(10)
    shuffled = Fingerprint("", ref.times, ref.hashes[order])
    assert not match(shuffled, ref).duplicate
    assert match(noisy_copy(ref, 6), ref).duplicate
    assert not match(noisy_copy(ref, 20), ref).duplicate  # as far apart as unrelated frames
