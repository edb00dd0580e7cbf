import numpy as np
import pytest

from media import frame_index
from media.frame_index import FrameIndex, hamming

MAX_DISTANCE = 75


def random_keys(rng: np.random.Generator, n: int, p: np.ndarray | None = None) -> np.ndarray:
    """(n, 4) uint64 keys; bit i set with probability p[i] (default 0.5)."""
    bits = rng.random((n, 256)) < (0.5 if p is None else p)
    return np.packbits(bits, axis=-1).view(">u8").astype(np.uint64)


def noisy(rng: np.random.Generator, keys: np.ndarray, lo: int = 30, hi: int = 70) -> np.ndarray:
    """``keys`` with lo..hi random bits of each row flipped."""
    flips = rng.integers(lo, hi + 1, len(keys))
    ranks = rng.random((len(keys), 256)).argsort(axis=1).argsort(axis=1)
    return keys ^ np.packbits(ranks < flips[:, None], axis=-1).view(">u8").astype(np.uint64)


def copy_query(rng: np.random.Generator, stored: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """A dense query of a copy: 4 frames per stored frame, 6 variants each, one of them a noisy copy."""
    frames = np.repeat(stored, 4, axis=0)
    keys = random_keys(rng, len(frames) * 6, p).reshape(len(frames), 6, 4)
    keys[:, 2] = noisy(rng, frames)
    return keys.reshape(-1, 4)


def videos(rng: np.random.Generator, n: int, p: np.ndarray | None = None) -> dict[int, np.ndarray]:
    return {slot: random_keys(rng, int(k), p) for slot, k in enumerate(rng.integers(8, 13, n))}


def brute_force(stored: dict[int, np.ndarray], query: np.ndarray, max_distance: int) -> dict[int, int]:
    """Slot -> number of its keys within ``max_distance`` of some query key."""
    out = {}
    for slot, keys in stored.items():
        dist = np.stack([hamming(keys, np.broadcast_to(q, keys.shape)) for q in query])
        if n := int(np.count_nonzero((dist <= max_distance).any(axis=0))):
            out[slot] = n
    return out


@pytest.mark.parametrize("exhaustive", [True, False])
def test_finds_noisy_copies_among_thousands_and_nothing_unrelated(exhaustive, monkeypatch):
    monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 10**9 if exhaustive else 0)
    rng = np.random.default_rng(1)
    stored = videos(rng, 3000)
    index = FrameIndex()
    for slot, keys in stored.items():
        index.add(slot, keys)
    assert len(index) == 3000 and index.keys == sum(map(len, stored.values()))
    assert (index.tables == 0) == exhaustive
    for slot in (0, 7, 1234, 2500, 2999):
        found = index.candidates(copy_query(rng, stored[slot]), max_distance=MAX_DISTANCE)
        assert [s for s, _ in found] == [slot]
        assert 1 <= found[0][1] <= len(stored[slot])
    assert index.candidates(random_keys(rng, 300), max_distance=MAX_DISTANCE) == []


def test_small_index_answers_exactly_like_brute_force():
    rng = np.random.default_rng(2)
    stored = videos(rng, 100)
    index = FrameIndex()
    for slot, keys in stored.items():
        index.add(slot, keys)
    assert index.keys <= frame_index.EXHAUSTIVE_KEYS and index.tables == 0
    # Copies of three videos, one with many of its frames, one with a few, one with a single frame.
    query = np.concatenate([copy_query(rng, stored[5]), copy_query(rng, stored[9][:3]),
                            copy_query(rng, stored[40][:1])])
    expected = brute_force(stored, query, MAX_DISTANCE)
    found = index.candidates(query, max_distance=MAX_DISTANCE, limit=100)
    assert dict(found) == expected
    assert [s for s, _ in found] == [5, 9, 40]
    assert index.candidates(query, max_distance=MAX_DISTANCE, limit=2) == found[:2]


def test_multi_index_finds_a_subset_of_brute_force(monkeypatch):
    monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 0)
    rng = np.random.default_rng(3)
    stored = videos(rng, 500)
    index = FrameIndex()
    for slot, keys in stored.items():
        index.add(slot, keys)
    query = np.concatenate([copy_query(rng, stored[slot]) for slot in (3, 300)])
    exact = brute_force(stored, query, MAX_DISTANCE)
    found = dict(index.candidates(query, max_distance=MAX_DISTANCE, limit=100))
    assert set(found) == {3, 300} == set(exact)
    assert all(found[s] <= exact[s] for s in found)
    fewer = dict(index.candidates(query, max_distance=MAX_DISTANCE, limit=100, tables=2))
    assert all(fewer[s] <= found[s] for s in fewer)


@pytest.mark.parametrize("exhaustive", [True, False])
def test_removal(exhaustive, monkeypatch):
    monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 10**9 if exhaustive else 0)
    rng = np.random.default_rng(4)
    stored = videos(rng, 400)
    index = FrameIndex()
    for slot, keys in stored.items():
        index.add(slot, keys)
    queries = {slot: copy_query(rng, stored[slot]) for slot in (10, 20, 30)}
    assert index.candidates(queries[10], max_distance=MAX_DISTANCE)[0][0] == 10  # built
    index.remove(10)
    assert index.candidates(queries[10], max_distance=MAX_DISTANCE) == []
    assert len(index) == 399 and index.keys == sum(map(len, stored.values())) - len(stored[10])
    index.add(1000, stored[20])  # pending, then removed before any build
    index.remove(1000)
    assert [s for s, _ in index.candidates(queries[20], max_distance=MAX_DISTANCE)] == [20]
    index.remove(10**6)  # unknown: nothing happens
    assert len(index) == 399
    # A removed slot can be used again; only its new keys count, and a rebuild drops the dead rows.
    index.add(10, stored[30][:2])
    found = dict(index.candidates(queries[30], max_distance=MAX_DISTANCE))
    assert set(found) == {10, 30} and found[10] <= 2
    assert index.candidates(queries[10], max_distance=MAX_DISTANCE) == []
    assert len(index) == 400 and index._dead == 0


def test_bulk_add_equals_one_by_one(monkeypatch):
    monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 0)
    rng = np.random.default_rng(5)
    stored = videos(rng, 1500)
    one = FrameIndex()
    for slot, keys in stored.items():
        one.add(slot, keys)
    slots = np.concatenate([np.full(len(k), s, np.int32) for s, k in stored.items()])
    keys = np.concatenate(list(stored.values()))
    order = rng.permutation(len(slots))
    half = len(order) // 2
    bulk = FrameIndex()
    bulk.add_bulk(slots[order[:half]], keys[order[:half]])
    bulk.build()  # and a second load onto a built index
    bulk.add_bulk(slots[order[half:]], keys[order[half:]])
    assert len(bulk) == len(one) == 1500 and bulk.keys == one.keys
    for slot in (0, 700, 1499):
        query = np.concatenate([copy_query(rng, stored[slot]), copy_query(rng, stored[(slot + 1) % 1500][:2])])
        assert bulk.candidates(query, max_distance=MAX_DISTANCE) == one.candidates(query, max_distance=MAX_DISTANCE)
    with pytest.raises(ValueError):
        bulk.add_bulk(slots[:3], keys[:4])
    with pytest.raises(ValueError):
        bulk.add(-1, keys[:1])
    with pytest.raises(ValueError):
        bulk.add(1, keys[:, :3])


def test_biased_bits_do_not_blow_up_candidate_sets(monkeypatch):
    """A few bits almost always set (a whole window's worth in one place) make some buckets huge; they are
    skipped or diluted, so probing reads about as many rows as on unbiased keys, and copies are still found."""
    monkeypatch.setattr(frame_index, "EXHAUSTIVE_KEYS", 0)
    rng = np.random.default_rng(6)
    p = np.full(256, 0.5)
    p[40:56] = 0.995  # 16 consecutive near-constant bits: every window over them is nearly one bucket
    p[rng.choice(np.r_[0:40, 56:256], 8, replace=False)] = 0.99
    rows_read = {}
    for name, bias in (("uniform", None), ("biased", p)):
        stored = videos(rng, 3000, bias)
        index = FrameIndex()
        for slot, keys in stored.items():
            index.add(slot, keys)
        index.build()
        query = copy_query(rng, stored[42], bias)
        rows_read[name] = int(index._probe(query, index.tables)[1].sum())
        assert index.candidates(query, max_distance=MAX_DISTANCE)[0][0] == 42
    assert rows_read["biased"] <= 3 * rows_read["uniform"]
