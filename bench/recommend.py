"""Recommendation benchmarks (issue 6): two-tower training time per epoch (MovieLens-100K and a synthetic
1 M-event log), ranker latency for 500 candidates through tf.function beside an eager call, and ANN query
latency at 1 M items (64-d) beside a brute-force numpy inner product, all in the same run.

    .venv/bin/python bench/recommend.py            # default, ~2-3 minutes on 2 cores
    .venv/bin/python bench/recommend.py --quick    # smoke: small sizes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name shadows the `recommend` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

from recommend.ann import AnnIndex  # noqa: E402
from recommend.data import Interactions, load_movielens_100k, time_split  # noqa: E402
from recommend.ranker import Ranker, RankerConfig, RankerFeatures  # noqa: E402
from recommend.two_tower import TwoTower, TwoTowerConfig  # noqa: E402


def pct(samples_s: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_s) * 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def synthetic_log(n_events: int, n_users: int, n_items: int, seed: int = 0) -> Interactions:
    """Zipf-ish item popularity, users with a few taste clusters: enough structure to train on."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_events)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, n_events, p=pop / pop.sum())
    ts = np.sort(rng.uniform(0, 30 * 86400, n_events))
    weight = np.where(rng.random(n_events) < 0.15, 0.0, 1.0).astype(np.float32)  # 15 % skips
    return Interactions(users.astype(np.int32), items.astype(np.int32), ts, weight,
                        tuple(f"u{i}" for i in range(n_users)), tuple(f"v{i}" for i in range(n_items)))


def bench_training(quick: bool) -> dict:
    out = {}
    train, _ = time_split(load_movielens_100k(), 0.2)
    rep = TwoTower(TwoTowerConfig()).fit(train, epochs=2 if quick else 3, batch_size=512)
    out["ml100k"] = {"examples": rep.examples, "batch": 512,
                     "s_per_epoch": [round(s, 2) for s in rep.seconds_per_epoch]}
    n = 100_000 if quick else 1_000_000
    log = synthetic_log(n, 20_000, 50_000)
    rep = TwoTower(TwoTowerConfig()).fit(log, epochs=1, batch_size=4096)
    out["synthetic"] = {"examples": n, "users": 20_000, "items": 50_000, "batch": 4096,
                        "s_per_epoch": [round(s, 2) for s in rep.seconds_per_epoch]}
    return out


def bench_ranker(quick: bool) -> dict:
    cfg = RankerConfig()
    ranker = Ranker(cfg)
    rng = np.random.default_rng(0)
    n = 500
    f = RankerFeatures(rng.normal(size=(n, cfg.user_dim)).astype(np.float32),
                       rng.normal(size=(n, cfg.item_dim)).astype(np.float32),
                       rng.integers(0, 24, n), rng.integers(0, cfg.n_regions, n),
                       rng.normal(size=(n, cfg.n_dense)).astype(np.float32))
    out = {"candidates": n}
    for name, fn, reps in (("tf_function", ranker.score, 100 if quick else 500),
                           ("eager", ranker.score_eager, 30 if quick else 100)):
        for _ in range(5):
            fn(f)  # trace / warm up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn(f)
            times.append(time.perf_counter() - t0)
        p50, p99 = pct(times)
        out[name] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
    return out


def clustered_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 1000 centres, like trained item embeddings (random gaussians would be IVF's
    worst case and unlike any trained model)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, d)).astype(np.float32)
    v = centres[rng.integers(0, 1000, n)] + 0.6 * rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def bench_ann(quick: bool, n: int, kind: str, k: int = 200) -> dict:
    d = 64
    vecs = clustered_vectors(n, d)
    queries = clustered_vectors(200, d, seed=1)
    t0 = time.perf_counter()
    index = AnnIndex(kind, exact_below=0).build(np.arange(n), vecs)
    build_s = time.perf_counter() - t0
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        ids, _ = index.search(q[None, :], k)
        times.append(time.perf_counter() - t)
        found.append(ids[0])
    brute_times, recalls = [], []
    for q, got in zip(queries[: 20 if quick else 50], found, strict=False):
        t = time.perf_counter()
        s = vecs @ q
        top = np.argpartition(-s, k)[:k]
        top = top[np.argsort(-s[top])]
        brute_times.append(time.perf_counter() - t)
        recalls.append(len(set(top.tolist()) & set(got.tolist())) / k)
    p50, p99 = pct(times)
    b50, b99 = pct(brute_times)
    return {"items": n, "dim": d, "k": k, "kind": index.built_kind, "build_s": round(build_s, 1),
            "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "recall": round(float(np.mean(recalls)), 3),
            "brute_force_p50_ms": round(b50, 2), "brute_force_p99_ms": round(b99, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--ann-items", type=int, default=None, help="ANN size (default 1 M, --quick 100 k)")
    p.add_argument("--hnsw", action="store_true", help="also build HNSW at the ANN size (minutes at 1 M on 2 cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = p.parse_args()
    n_ann = a.ann_items or (100_000 if a.quick else 1_000_000)
    t0 = time.perf_counter()
    result = {"training": bench_training(a.quick), "ranker": bench_ranker(a.quick),
              "ann": [bench_ann(a.quick, n_ann, "ivf")] + ([bench_ann(a.quick, n_ann, "hnsw")] if a.hnsw else [])}
    result["total_s"] = round(time.perf_counter() - t0, 1)
    if a.json:
        print(json.dumps(result))
        return 0
    tr = result["training"]
    print(f"two-tower train, ML-100K ({tr['ml100k']['examples']} events, batch 512): "
          f"{tr['ml100k']['s_per_epoch']} s/epoch (the first includes tracing)")
    print(f"two-tower train, synthetic {tr['synthetic']['examples']:,} events: "
          f"{tr['synthetic']['s_per_epoch'][0]} s/epoch")
    rk = result["ranker"]
    print(f"ranker, {rk['candidates']} candidates: tf.function p50 {rk['tf_function']['p50_ms']} ms "
          f"p99 {rk['tf_function']['p99_ms']} ms | eager p50 {rk['eager']['p50_ms']} ms p99 {rk['eager']['p99_ms']} ms")
    for r in result["ann"]:
        print(f"ANN {r['kind']} {r['items']:,} x {r['dim']}-d, k={r['k']}: build {r['build_s']} s, query p50 "
              f"{r['p50_ms']} ms p99 {r['p99_ms']} ms, recall@{r['k']} {r['recall']} | brute force "
              f"p50 {r['brute_force_p50_ms']} ms p99 {r['brute_force_p99_ms']} ms")
    print(f"total {result['total_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
