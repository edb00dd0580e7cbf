"""Recommendation benchmarks (issue 6): two-tower training time per epoch (MovieLens-100K and a synthetic
1 M-event log), ranker latency for 500 and 30 candidates through TFLite (what the feed serves) and
tf.function beside an eager call, ANN query latency at 1 M items (64-d) beside a brute-force numpy inner
product, and the candidate refresh's pure compute step on a synthetic snapshot, all in the same run.

Memory: every stage runs in its own fresh child process (multiprocessing "spawn"), which reads its own peak
RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) after its imports and at checkpoints inside the stage. Beside them,
"bare" children only import the libraries a stage needs (numpy; TensorFlow with the model modules; faiss; the
refresh's modules), so the table separates a library's import cost from what the stage itself holds.

    .venv/bin/python bench/recommend.py            # default, ~4-5 minutes on 2 cores
    .venv/bin/python bench/recommend.py --quick    # smoke: small sizes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name shadows the `recommend` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

# Only numpy at module level: the spawned children import this module, and a stage's heavy libraries must be
# imported inside it, or every child (the bare baselines included) would pay for all of them.
IMPORTS = {
    "numpy": (),
    "tensorflow": ("recommend.data", "recommend.two_tower", "recommend.ranker"),
    "faiss": ("recommend.ann",),
    "refresh": ("jobs.candidates", "recommend.sources", "recommend.pools"),
}


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Rss:
    """Peak-RSS checkpoints of one child: after its imports, then wherever the stage marks one."""

    def __init__(self, libs: str):
        import importlib

        for mod in IMPORTS[libs]:
            importlib.import_module(mod)
        self.points: list[tuple[str, float]] = [("imports", peak_rss_mb())]

    def mark(self, label: str) -> None:
        self.points.append((label, peak_rss_mb()))

    def result(self) -> dict:
        return {"checkpoints_mb": [(k, round(v, 1)) for k, v in self.points], "peak_mb": round(peak_rss_mb(), 1)}


def bare(libs: str) -> dict:
    """A child that only imports ``libs`` (the baseline a stage's peak is compared with)."""
    return {"rss": Rss(libs).result()}


def in_child(fn: Callable[..., dict], *args: object) -> dict:
    """Run ``fn(*args)`` in a fresh spawned process, so that its ru_maxrss is this stage's alone (a fork would
    inherit the parent's pages and peak)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def pct(samples_s: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_s) * 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def synthetic_log(n_events: int, n_users: int, n_items: int, seed: int = 0):
    """Zipf-ish item popularity, users with a few taste clusters: enough structure to train on."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_events)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, n_events, p=pop / pop.sum())
    ts = np.sort(rng.uniform(0, 30 * 86400, n_events))
    weight = np.where(rng.random(n_events) < 0.15, 0.0, 1.0).astype(np.float32)  # 15 % skips
    from recommend.data import Interactions

    return Interactions(users.astype(np.int32), items.astype(np.int32), ts, weight,
                        tuple(f"u{i}" for i in range(n_users)), tuple(f"v{i}" for i in range(n_items)))


def bench_train_ml100k(quick: bool) -> dict:
    rss = Rss("tensorflow")
    from recommend.data import load_movielens_100k, time_split
    from recommend.two_tower import TwoTower, TwoTowerConfig

    train, _ = time_split(load_movielens_100k(), 0.2)
    rss.mark("data")
    rep = TwoTower(TwoTowerConfig()).fit(train, epochs=2 if quick else 3, batch_size=512)
    rss.mark("trained")
    return {"examples": rep.examples, "batch": 512, "s_per_epoch": [round(s, 2) for s in rep.seconds_per_epoch],
            "rss": rss.result()}


def bench_train_synthetic(quick: bool) -> dict:
    rss = Rss("tensorflow")
    from recommend.two_tower import TwoTower, TwoTowerConfig

    n = 100_000 if quick else 1_000_000
    log = synthetic_log(n, 20_000, 50_000)
    rss.mark("data")
    rep = TwoTower(TwoTowerConfig()).fit(log, epochs=1, batch_size=4096)
    rss.mark("trained")
    return {"examples": n, "users": 20_000, "items": 50_000, "batch": 4096,
            "s_per_epoch": [round(s, 2) for s in rep.seconds_per_epoch], "rss": rss.result()}


def bench_ranker(quick: bool) -> dict:
    rss = Rss("tensorflow")
    from recommend.ranker import Ranker, RankerConfig, RankerFeatures
    from recommend.ranker_tflite import LiteScorer

    cfg = RankerConfig()
    ranker = Ranker(cfg)
    lite = LiteScorer.build(ranker)  # what the feed API serves with; None if the conversion fails
    rng = np.random.default_rng(0)

    def features(n: int) -> RankerFeatures:
        return RankerFeatures(rng.normal(size=(n, cfg.user_dim)).astype(np.float32),
                              rng.normal(size=(n, cfg.item_dim)).astype(np.float32),
                              rng.integers(0, 24, n), rng.integers(0, cfg.n_regions, n),
                              rng.normal(size=(n, cfg.n_dense)).astype(np.float32))

    scorers = [("tf_function", ranker.score, 100 if quick else 500),
               ("eager", ranker.score_eager, 30 if quick else 100)]
    if lite is not None:
        scorers.insert(1, ("tflite", lite.score, 100 if quick else 500))
    out: dict = {"candidates": 500}
    for n, into in ((500, out), (30, out.setdefault("page_30", {}))):  # a ranking call; a feed page's
        f = features(n)
        for name, fn, reps in scorers:
            for _ in range(5):
                fn(f)  # trace / warm up
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn(f)
                times.append(time.perf_counter() - t0)
            p50, p99 = pct(times)
            into[name] = {"p50_ms": round(p50, 3), "p99_ms": round(p99, 3)}
            rss.mark(f"{name}_{n}")
    out["rss"] = rss.result()
    return out


def clustered_vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 1000 centres, like trained item embeddings (random gaussians would be IVF's
    worst case and unlike any trained model)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, d)).astype(np.float32)
    out = np.empty((n, d), np.float32)
    # In float32 chunks: one float64 (n, d) temporary would double the ANN stage's peak RSS and hide the index's.
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        v = centres[rng.integers(0, 1000, m)] + 0.6 * rng.standard_normal((m, d), dtype=np.float32)
        out[s:s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def bench_ann(quick: bool, n: int, kind: str, k: int = 200) -> dict:
    rss = Rss("faiss")
    from recommend.ann import AnnIndex

    d = 64
    vecs = clustered_vectors(n, d)
    queries = clustered_vectors(200, d, seed=1)
    rss.mark("vectors")
    t0 = time.perf_counter()
    index = AnnIndex(kind, exact_below=0).build(np.arange(n), vecs)
    build_s = time.perf_counter() - t0
    rss.mark("built")
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        ids, _ = index.search(q[None, :], k)
        times.append(time.perf_counter() - t)
        found.append(ids[0])
    rss.mark("queried")
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
            "brute_force_p50_ms": round(b50, 2), "brute_force_p99_ms": round(b99, 2), "rss": rss.result()}


def bench_refresh(quick: bool, n_users: int, n_videos: int, n_events: int, emb_dim: int = 128) -> dict:
    """``jobs.candidates.compute_pools`` (the refresh's pure middle: sources + merger) on a synthetic snapshot
    of the size the DAG test measured (1,000 users, 1,200 videos, 80 k events), with a two-tower-shaped
    ``VectorSource`` (65-d vectors, exact product). Loading from PostgreSQL and writing to Redis are not
    here: they need the services, and their memory is the snapshot's (held here too) plus driver buffers."""
    rss = Rss("refresh")
    from datetime import UTC, datetime

    from jobs.candidates import RefreshConfig, Snapshot, compute_pools
    from recommend import pools
    from recommend.sources import TrendEvent, VectorSource

    rng = np.random.default_rng(0)
    now = 1_800_000_000.0
    vids = [f"v{i}" for i in range(n_videos)]
    users = [f"u{i}" for i in range(n_users)]
    kinds = np.array(["view_start", "complete", "like", "skip", "progress"])
    ev_u = rng.integers(0, n_users, n_events)
    ev_v = rng.zipf(1.3, n_events) % n_videos
    ev_k = kinds[rng.choice(5, n_events, p=[0.45, 0.25, 0.05, 0.15, 0.10])]
    ev_t = np.sort(now - rng.uniform(0, 14 * 86400, n_events))
    history: dict[str, list[tuple[str, str, float]]] = {}
    for u, v, k, t in zip(ev_u.tolist(), ev_v.tolist(), ev_k.tolist(), ev_t.tolist(), strict=True):
        history.setdefault(users[u], []).append((vids[v], k, t))
    snap = Snapshot(
        as_of=now, meta={v: pools.VideoMeta(f"c{i % 200}", (f"t{i % 30}",)) for i, v in enumerate(vids)},
        ready_ts={v: now - rng.uniform(0, 60 * 86400) for v in vids}, users={u: "eu" for u in users},
        history=history, trend_events=[TrendEvent(vids[v], "eu", k, t) for v, k, t in
                                       zip(ev_v.tolist(), ev_k.tolist(), ev_t.tolist(), strict=True)],
        followees={u: {f"c{j}" for j in rng.integers(0, 200, 5)} for u in users},
        filters={u: pools.Filters(seen=frozenset(v for v, _, _ in history.get(u, ()))) for u in users},
        exposure={}, embedding_ids=vids, embedding_vectors=rng.normal(size=(n_videos, emb_dim)).astype(np.float32))
    tt = VectorSource("two_tower", {u: i for i, u in enumerate(users)},
                      rng.normal(size=(n_users, 65)).astype(np.float32), vids,
                      rng.normal(size=(n_videos, 65)).astype(np.float32))
    rss.mark("snapshot")
    cfg = RefreshConfig(as_of=datetime.fromtimestamp(now, UTC), embedding_model="synthetic")
    t0 = time.perf_counter()
    merged = compute_pools(snap, cfg, [tt])
    seconds = time.perf_counter() - t0
    rss.mark("pools")
    return {"users": n_users, "videos": n_videos, "events": n_events, "compute_s": round(seconds, 2),
            "mean_pool": round(float(np.mean([len(m.pool) for m in merged.values()])), 1), "rss": rss.result()}


def memory_table(result: dict) -> str:
    """Peak RSS per stage beside the bare child with the same imports: "own" is what the stage adds."""
    base = {k: v["rss"]["peak_mb"] for k, v in result["bare"].items()}
    rows = [f"{'stage (own child process)':<34} {'peak MB':>8} {'imports':>8} {'own MB':>7}  "
            "checkpoints (peak so far, MB)"]
    for name, libs in (("bare: python + numpy", "numpy"), ("bare: + tensorflow/keras", "tensorflow"),
                       ("bare: + faiss", "faiss"), ("bare: + refresh modules", "refresh")):
        rows.append(f"{name:<34} {base[libs]:8.0f} {'-':>8} {'-':>7}")
    for name, r, libs in result["memory_rows"]:
        peak = r["rss"]["peak_mb"]
        points = ", ".join(f"{k} {v:.0f}" for k, v in r["rss"]["checkpoints_mb"])
        rows.append(f"{name:<34} {peak:8.0f} {base[libs]:8.0f} {peak - base[libs]:7.0f}  {points}")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--ann-items", type=int, default=None, help="ANN size (default 1 M, --quick 100 k)")
    p.add_argument("--hnsw", action="store_true", help="also build HNSW at the ANN size (minutes at 1 M on 2 cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = p.parse_args()
    n_ann = a.ann_items or (100_000 if a.quick else 1_000_000)
    refresh_size = (200, 300, 16_000) if a.quick else (1_000, 1_200, 80_000)
    t0 = time.perf_counter()
    result: dict = {"bare": {libs: in_child(bare, libs) for libs in IMPORTS}}
    tr = {"ml100k": in_child(bench_train_ml100k, a.quick), "synthetic": in_child(bench_train_synthetic, a.quick)}
    result["training"] = tr
    result["ranker"] = in_child(bench_ranker, a.quick)
    result["ann"] = [in_child(bench_ann, a.quick, n_ann, "ivf")] + (
        [in_child(bench_ann, a.quick, n_ann, "hnsw")] if a.hnsw else [])
    result["refresh"] = in_child(bench_refresh, a.quick, *refresh_size)
    result["memory_rows"] = [
        ("two-tower train ML-100K", tr["ml100k"], "tensorflow"),
        (f"two-tower train synthetic {tr['synthetic']['examples'] // 1000} k", tr["synthetic"], "tensorflow"),
        ("ranker score 500 + 30 candidates", result["ranker"], "tensorflow"),
        *[(f"ANN {r['kind']} {r['items'] // 1000} k build+query", r, "faiss") for r in result["ann"]],
        (f"refresh compute {refresh_size[0]} users", result["refresh"], "refresh")]
    result["total_s"] = round(time.perf_counter() - t0, 1)
    if a.json:
        print(json.dumps(result))
        return 0
    print(f"two-tower train, ML-100K ({tr['ml100k']['examples']} events, batch 512): "
          f"{tr['ml100k']['s_per_epoch']} s/epoch (the first includes tracing)")
    print(f"two-tower train, synthetic {tr['synthetic']['examples']:,} events: "
          f"{tr['synthetic']['s_per_epoch'][0]} s/epoch")
    rk = result["ranker"]
    for n, row in ((rk["candidates"], rk), (30, rk["page_30"])):
        cells = " | ".join(f"{name} p50 {row[name]['p50_ms']} ms p99 {row[name]['p99_ms']} ms"
                           for name in ("tflite", "tf_function", "eager") if name in row)
        print(f"ranker, {n} candidates: {cells}")
    for r in result["ann"]:
        print(f"ANN {r['kind']} {r['items']:,} x {r['dim']}-d, k={r['k']}: build {r['build_s']} s, query p50 "
              f"{r['p50_ms']} ms p99 {r['p99_ms']} ms, recall@{r['k']} {r['recall']} | brute force "
              f"p50 {r['brute_force_p50_ms']} ms p99 {r['brute_force_p99_ms']} ms")
    rf = result["refresh"]
    print(f"refresh compute_pools, {rf['users']:,} users / {rf['videos']:,} videos / {rf['events']:,} events: "
          f"{rf['compute_s']} s, mean pool {rf['mean_pool']}")
    print("\npeak RSS per stage (each its own spawned process; own = peak - the bare child with the same imports)")
    print(memory_table(result))
    print(f"total {result['total_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
