"""Candidate retrieval over 256-bit PDQ frame keys at scale: multi-index hashing beside brute force, same run.

The index holds N synthetic videos (8-30 s, one stored key per second). Key bits are biased like PDQ's:
each bit is set with a probability drawn from 0.3-0.7, and a few bits are nearly constant, so chunk
buckets fill unevenly. Some of the videos are planted: each gets a copy query of the same duration at 4
frames per second with 6 variants per frame (3 crops x as-is/mirrored); one variant position (the same
for the whole copy) is the true orientation, whose keys sit d bits from the stored key of that second
(d drawn per copy from 30-75, fresh flips per frame), and the other five are random keys. Random queries
are unrelated videos of the same shape. Candidate recall: the planted slot among the top-16 candidates.

    .venv/bin/python bench/frame_index.py [--videos 1000000] [--copies 400] [--brute-queries 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from media import frame_index
from media.frame_index import FrameIndex

VARIANTS = 6
QUERY_FPS = 4
BINS = ((30, 50), (51, 60), (61, 70), (71, 75))


def bit_probabilities(rng: np.random.Generator, constant: int = 6) -> np.ndarray:
    """Per-bit set probabilities: 0.3-0.7, and ``constant`` bits set (or clear) 98 % of the time."""
    p = rng.uniform(0.3, 0.7, 256)
    pick = rng.choice(256, constant, replace=False)
    p[pick] = rng.choice([0.02, 0.98], constant)
    return p


def random_keys(n: int, p: np.ndarray, rng: np.random.Generator, block: int = 1 << 17) -> np.ndarray:
    """(n, 4) uint64 keys whose bit i is set with probability p[i] (to 1/256)."""
    thresholds = np.clip(np.round(p * 256), 1, 255).astype(np.uint8)
    out = np.empty((n, 4), np.uint64)
    for a in range(0, n, block):
        b = min(n, a + block)
        bits = rng.integers(0, 256, (b - a, 256), dtype=np.uint8) < thresholds
        out[a:b] = np.packbits(bits, axis=-1).view(">u8").astype(np.uint64)
    return out


def flip(keys: np.ndarray, bits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``keys`` with exactly ``bits[i]`` random bits of row i flipped."""
    ranks = rng.random((len(keys), 256)).argsort(axis=1).argsort(axis=1)
    mask = np.packbits(ranks < bits[:, None], axis=-1).view(">u8").astype(np.uint64)
    return keys ^ mask


def copy_query(stored: np.ndarray, d: int, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    frames = QUERY_FPS * len(stored)
    keys = random_keys(frames * VARIANTS, p, rng).reshape(frames, VARIANTS, 4)
    true = stored[np.arange(frames) // QUERY_FPS]
    keys[:, rng.integers(VARIANTS)] = flip(true, np.full(frames, d), rng)
    return keys.reshape(-1, 4)


def brute_force(index: FrameIndex, query: np.ndarray, max_distance: int, limit: int = 16) -> list[tuple[int, int]]:
    """Every query key against every stored key, ranked like :meth:`FrameIndex.candidates`."""
    keys, owner = index._keys, index._owner
    close = np.zeros(len(keys), bool)
    best = np.full(len(keys), 999, np.uint16)
    block = 1 << 20
    for a in range(0, len(keys), block):
        k = keys[a:a + block]
        for q in query:
            dist = np.bitwise_count(k[:, 0] ^ q[0]).astype(np.uint16)
            for w in range(1, 4):
                dist += np.bitwise_count(k[:, w] ^ q[w])
            np.minimum(best[a:a + block], dist, out=best[a:a + block])
    close = best <= max_distance
    rows = np.flatnonzero(close)
    slots, inverse, counts = np.unique(owner[rows], return_inverse=True, return_counts=True)
    nearest = np.full(slots.size, 999, np.uint16)
    np.minimum.at(nearest, inverse, best[rows])
    top = np.lexsort((slots, nearest, -counts))[:limit]
    return [(int(slots[i]), int(counts[i])) for i in top]


def index_bytes(index: FrameIndex) -> int:
    return sum(a.nbytes for a in (index._keys, index._owner, index._alive, index._rows, index._offsets))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1_000_000)
    ap.add_argument("--copies", type=int, default=400, help="planted videos, one copy query each")
    ap.add_argument("--random-queries", type=int, default=100)
    ap.add_argument("--brute-queries", type=int, default=3)
    ap.add_argument("--max-distance", type=int, default=80)
    ap.add_argument("--chunks", default="16,8,4,2,1", help="tables probed per lookup, one pass each")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    p = bit_probabilities(rng)

    t0 = time.perf_counter()
    per = rng.integers(8, 31, args.videos)
    slots = np.repeat(np.arange(args.videos, dtype=np.int32), per)
    keys = random_keys(len(slots), p, rng)
    starts = np.concatenate([[0], np.cumsum(per)])
    gen_s = time.perf_counter() - t0
    planted = rng.choice(args.videos, args.copies, replace=False)
    levels = rng.integers(30, 76, args.copies)
    copies = [copy_query(keys[starts[s]:starts[s + 1]], int(d), p, rng) for s, d in zip(planted, levels, strict=True)]
    randoms = [random_keys(QUERY_FPS * VARIANTS * int(n), p, rng) for n in rng.integers(8, 31, args.random_queries)]
    print(f"generated {args.videos:,} videos, {len(keys):,} keys in {gen_s:.1f} s; {args.copies} copy queries "
          f"(d 30-75 bits), {args.random_queries} random; query keys {min(map(len, copies))}-"
          f"{max(map(len, copies))}")

    index = FrameIndex()
    t0 = time.perf_counter()
    index.add_bulk(slots, keys)
    del slots, keys
    index.build()
    build_s = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"index: {len(index):,} videos, {index.keys:,} keys, {len(index._chunks)} tables "
          f"(chunks {index._chunks.tolist()}), built in {build_s:.1f} s, arrays {index_bytes(index) / 2**30:.2f} GiB, "
          f"peak RSS {rss_gb:.2f} GiB (generation included)")
    cap = max(frame_index.MIN_BUCKET_CAP, frame_index.MAX_BUCKET_FACTOR * index.keys // frame_index.TABLE)
    sizes = np.diff(index._offsets, axis=1)
    print(f"buckets: mean {index.keys / frame_index.TABLE:.0f} rows, largest {sizes.max():,}, cap {cap}; "
          f"keys in skipped buckets per table {np.round((sizes * (sizes > cap)).sum(1) / index.keys, 4).tolist()}")

    print(f"\n{'method':26} {'p50 ms':>8} {'p99 ms':>8} {'rows/q':>9}  recall by d: "
          + " ".join(f"{a}-{b:<5}" for a, b in BINS) + f"{'<=70':>7}  random hits")
    for k in (int(c) for c in args.chunks.split(",")):
        index.candidates(copies[0], max_distance=args.max_distance, chunks=k)  # warm
        lat, found = [], []
        for q, s in zip(copies, planted, strict=True):
            t = time.perf_counter()
            top = index.candidates(q, max_distance=args.max_distance, chunks=k)
            lat.append(time.perf_counter() - t)
            found.append(any(slot == s for slot, _ in top))
        false = 0
        for q in randoms:
            t = time.perf_counter()
            false += len(index.candidates(q, max_distance=args.max_distance, chunks=k))
            lat.append(time.perf_counter() - t)
        rows = np.mean([index._probe(np.unique(q, axis=0), k)[0].size for q in copies[:50]])
        found_a = np.asarray(found)
        by_bin = [found_a[(levels >= a) & (levels <= b)].mean() for a, b in BINS]
        lat_ms = np.asarray(lat) * 1e3
        print(f"{'MIH, ' + str(k) + ' tables':26} {np.percentile(lat_ms, 50):8.1f} {np.percentile(lat_ms, 99):8.1f} "
              f"{rows:9,.0f}  " + " ".join(f"{r:10.3f}" for r in by_bin)
              + f"{found_a[levels <= 70].mean():7.3f}  {false}")

    picks = rng.choice(args.copies, min(args.brute_queries, args.copies), replace=False)
    brute_lat, brute_hits, mih_hits = [], 0, 0
    for i in picks:
        t = time.perf_counter()
        top = brute_force(index, copies[i], args.max_distance)
        brute_lat.append(time.perf_counter() - t)
        brute_hits += any(slot == planted[i] for slot, _ in top)
        mih = index.candidates(copies[i], max_distance=args.max_distance)
        mih_hits += any(slot == planted[i] for slot, _ in mih)
        print(f"  brute force, copy at d={levels[i]}, {len(copies[i])} keys: {brute_lat[-1]:.1f} s, "
              f"top {top[:3]}; MIH (all tables) top {mih[:3]}")
    if picks.size:
        print(f"{'brute force (baseline)':26} {np.percentile(brute_lat, 50) * 1e3:8.0f} "
              f"{np.max(brute_lat) * 1e3:8.0f} {index.keys:9,}  found {brute_hits}/{picks.size} "
              f"(MIH, all tables: {mih_hits}/{picks.size})")
    print("\ngoal: p99 <= 5 ms at 1 M videos, recall >= 0.98 for d <= 70")


if __name__ == "__main__":
    main()
