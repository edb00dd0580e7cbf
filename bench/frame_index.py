"""Candidate retrieval over 256-bit PDQ frame keys at scale: multi-index hashing beside brute force, same run.

The index holds N synthetic videos (8-30 s, one stored key per second). Key bits are biased like PDQ's:
each bit is set with a probability drawn from 0.3-0.7, and a few bits are nearly constant, so chunk
buckets fill unevenly. Some of the videos are planted: each gets a copy query of the same duration at 4
frames per second with 6 variants per frame (3 crops x as-is/mirrored); one variant position (the same
for the whole copy) is the true orientation, whose keys sit d bits from the stored key of that second
(d drawn per copy from 30-75, fresh flips per frame), and the other five are random keys. Random queries
are unrelated videos of the same shape. Candidate recall: the planted slot among the top-16 candidates.

    .venv/bin/python bench/frame_index.py [--videos 1000000] [--copies 400] [--brute-queries 3]
    .venv/bin/python bench/frame_index.py --bits 16 --tables 16 --brute-queries 0   # disjoint 16-bit chunks
    .venv/bin/python bench/frame_index.py --brute-queries 0 --faiss mih:12:20,hash:2:20:1,ivf:4096:1,ivf:4096:4

``--faiss`` times faiss's compiled binary indexes on the same keys and queries, ranked the same way, beside the
NumPy rows (faiss ids are rows of the NumPy index, so its slot array maps them).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

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


def rank(owner: np.ndarray, rows: np.ndarray, dist: np.ndarray, limit: int = 16) -> list[tuple[int, int]]:
    """(stored row, distance) pairs ranked like :meth:`FrameIndex.candidates`: distinct close rows per slot."""
    if rows.size == 0:
        return []
    order = np.lexsort((dist, rows))
    rows, dist = rows[order], dist[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    rows, dist = rows[first], dist[first]
    slots, inverse, counts = np.unique(owner[rows], return_inverse=True, return_counts=True)
    nearest = np.full(slots.size, 999, np.int64)
    np.minimum.at(nearest, inverse, dist)
    top = np.lexsort((slots, nearest, -counts))[:limit]
    return [(int(slots[i]), int(counts[i])) for i in top]


Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def faiss_codes(keys: np.ndarray, rotate: int = 0) -> np.ndarray:
    """(n, 32) uint8 codes of (n, 4) uint64 keys rotated left by ``rotate`` bits (Hamming distances kept)."""
    if rotate:
        word, offset = divmod(rotate, 64)
        keys = np.roll(keys, -word, axis=1)
        if offset:
            keys = (keys << np.uint64(offset)) | (np.roll(keys, -1, axis=1) >> np.uint64(64 - offset))
    return np.ascontiguousarray(keys.astype(">u8").view(np.uint8).reshape(-1, 32))


def faiss_index(spec: str, keys: np.ndarray) -> tuple[str, Search, Callable[[], float]]:
    """A faiss binary index over ``keys`` (faiss id = row): its name, a range search returning (rows, distances)
    within a distance, and a function returning distances computed since its last call."""
    import faiss  # a main dependency, imported here so the NumPy-only runs do not load it

    kind, *params = spec.split(":")
    nums = [int(x) for x in params]
    stats = faiss.cvar.indexIVF_stats if kind == "ivf" else faiss.cvar.indexBinaryHash_stats

    def ndis() -> float:
        n = float(stats.ndis)
        stats.reset()
        return n

    if kind == "mih":  # multi-index hashing: NHASH disjoint windows of BITS bits, buckets within NFLIP bits
        nhash, bits, nflip = (*nums, 0)[:3]
        mih = faiss.IndexBinaryMultiHash(256, nhash, bits)
        mih.nflip = nflip
        mih.add(faiss_codes(keys))
        indexes, rotations = [mih], [0]
        name = f"faiss MIH {nhash}x{bits}b f{nflip}"
    elif kind == "hash":  # TABLES single-window hashes over rotated copies (codes stored in every bucket)
        tables, bits, nflip = nums
        rotations = [round(t * 256 / tables) for t in range(tables)]
        indexes = []
        for r in rotations:
            table = faiss.IndexBinaryHash(256, bits)
            table.nflip = nflip
            table.add(faiss_codes(keys, r))
            indexes.append(table)
        name = f"faiss hash {tables}x{bits}b f{nflip}"
    elif kind == "ivf":  # inverted lists; centroids are sampled keys (k-means gains nothing on spread-out keys)
        nlist, nprobe = nums
        quantizer = faiss.IndexBinaryFlat(256)
        quantizer.add(faiss_codes(keys[np.random.default_rng(0).choice(len(keys), nlist, replace=False)]))
        ivf = faiss.IndexBinaryIVF(quantizer, 256, nlist)
        ivf.is_trained = True
        ivf.nprobe = nprobe
        ivf.add(faiss_codes(keys))
        indexes, rotations = [ivf, quantizer], [0]  # the quantizer is listed to keep it alive; never searched
        name = f"faiss IVF {nlist} p{nprobe}"
    else:
        raise ValueError(f"unknown faiss index {spec!r}")

    def search(q: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        rows, dist = [], []
        for index, r in zip(indexes, rotations, strict=False):
            _, d, i = index.range_search(faiss_codes(q, r), max_distance + 1)  # keeps distances < radius
            rows.append(i)
            dist.append(d)
        return np.concatenate(rows), np.concatenate(dist)

    return name, search, ndis


def current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def measure(name: str, lookup: Callable[[np.ndarray], list[tuple[int, int]]], rows: float | Callable[[], float],
            copies: list[np.ndarray], planted: np.ndarray, levels: np.ndarray, randoms: list[np.ndarray]) -> None:
    """Time ``lookup`` on every copy and random query and print a result row. ``rows``: rows read per copy query,
    or a counter of rows read since its last call."""
    lookup(copies[0])  # warm
    if callable(rows):
        rows()
    lat, found = [], []
    for q, s in zip(copies, planted, strict=True):
        t = time.perf_counter()
        top = lookup(q)
        lat.append(time.perf_counter() - t)
        found.append(any(slot == s for slot, _ in top))
    per_query = rows() / len(copies) if callable(rows) else rows
    false = 0
    for q in randoms:
        t = time.perf_counter()
        false += len(lookup(q))
        lat.append(time.perf_counter() - t)
    found_a = np.asarray(found)
    by_bin = [found_a[(levels >= a) & (levels <= b)].mean() for a, b in BINS]
    lat_ms = np.asarray(lat) * 1e3
    print(f"{name:26} {np.percentile(lat_ms, 50):8.1f} {np.percentile(lat_ms, 99):8.1f} {per_query:9,.0f}  "
          + " ".join(f"{r:10.3f}" for r in by_bin) + f"{found_a[levels <= 70].mean():7.3f}  {false}", flush=True)


def index_bytes(index: FrameIndex) -> int:
    return sum(a.nbytes for a in (index._keys, index._owner, index._alive, index._rows, index._offsets))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1_000_000)
    ap.add_argument("--copies", type=int, default=400, help="planted videos, one copy query each")
    ap.add_argument("--random-queries", type=int, default=100)
    ap.add_argument("--brute-queries", type=int, default=3)
    ap.add_argument("--max-distance", type=int, default=80)
    ap.add_argument("--bits", type=int, default=None, help="bits per table key (default: from the index size)")
    ap.add_argument("--tables", type=int, default=frame_index.TABLES, help="tables built")
    ap.add_argument("--probe", default="", help="tables probed per lookup, one pass each (default: all, 2/3, "
                    "1/2, 1/3, 1/6)")
    ap.add_argument("--faiss", default="", help="faiss binary indexes timed beside the NumPy one, comma-separated: "
                    "mih:NHASH:BITS[:NFLIP], hash:TABLES:BITS:NFLIP, ivf:NLIST:NPROBE")
    ap.add_argument("--faiss-threads", type=int, default=0, help="OpenMP threads for faiss (default: all cores)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    frame_index.WINDOW_BITS, frame_index.TABLES = args.bits, args.tables
    probes = ([int(c) for c in args.probe.split(",")] if args.probe
              else sorted({max(1, round(args.tables * f)) for f in (1, 2 / 3, 1 / 2, 1 / 3, 1 / 6)}, reverse=True))
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
    del slots
    index.build()
    build_s = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"index: {len(index):,} videos, {index.keys:,} keys, {index.tables} tables of {index._bits}-bit windows "
          f"(starting at bits {index._starts.tolist()}), built in {build_s:.1f} s, arrays "
          f"{index_bytes(index) / 2**30:.2f} GiB, peak RSS {rss_gb:.2f} GiB (generation included)")
    mean = index.keys / 2**index._bits
    cap = max(frame_index.MIN_BUCKET_CAP, frame_index.MAX_BUCKET_FACTOR * index.keys >> index._bits)
    sizes = np.diff(index._offsets, axis=1)
    skipped = (sizes * (sizes > cap)).sum(1) / index.keys
    print(f"buckets: mean {mean:.1f} rows, largest {sizes.max():,}, cap {cap}; share of keys in skipped buckets "
          f"{skipped.min():.4f}-{skipped.max():.4f} by table")
    sample = rng.choice(len(keys), 20_000, replace=False)
    unrelated = frame_index.hamming(keys[sample[:10_000]], keys[sample[10_000:]])
    print(f"unrelated key pairs: {unrelated.mean():.1f} +- {unrelated.std():.1f} bits apart, "
          f"{np.mean(unrelated <= args.max_distance):.5f} within max_distance {args.max_distance}")

    print(f"\n{'method':26} {'p50 ms':>8} {'p99 ms':>8} {'rows/q':>9}  recall by d: "
          + " ".join(f"{a}-{b:<5}" for a, b in BINS) + f"{'<=70':>7}  random hits")
    for k in probes:
        def mih(q: np.ndarray, k: int = k) -> list[tuple[int, int]]:
            return index.candidates(q, max_distance=args.max_distance, tables=k)
        rows = np.mean([index._probe(np.unique(q, axis=0), k)[1].sum() for q in copies[:50]])
        measure(f"MIH, {k} tables", mih, float(rows), copies, planted, levels, randoms)
    if args.faiss_threads:
        import faiss

        faiss.omp_set_num_threads(args.faiss_threads)
    for spec in filter(None, args.faiss.split(",")):
        rss = current_rss()
        t0 = time.perf_counter()
        name, search, stats = faiss_index(spec, keys)
        build_s, mem = time.perf_counter() - t0, current_rss() - rss

        def lookup(q: np.ndarray, search: Search = search) -> list[tuple[int, int]]:
            rows, dist = search(np.unique(q, axis=0), args.max_distance)
            return rank(index._owner, rows, dist)
        measure(name, lookup, stats, copies, planted, levels, randoms)
        print(f"{'':26} built in {build_s:.1f} s, +{mem / 2**30:.2f} GiB RSS")
        del search, lookup
    del keys

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
