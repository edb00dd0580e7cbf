"""Approximate nearest neighbours over item vectors (faiss-cpu, inner product).

Exact search (``IndexFlatIP``) below ``exact_below`` items: at 64-d a brute-force scan of 50 k vectors is
well under a millisecond per query batch and needs no tuning. Above it, IVF by default: at 1 M vectors it
builds in ~20 s on 2 cores, where HNSW takes minutes (docs/recommendations.md); HNSW is there for smaller indexes
that want lower query latency.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np

KINDS = ("auto", "flat", "ivf", "hnsw")


class AnnIndex:
    def __init__(self, kind: str = "auto", *, exact_below: int = 50_000, nlist: int | None = None,
                 nprobe: int = 64, hnsw_m: int = 32, ef_search: int = 128, ef_construction: int = 80,
                 train_sample: int = 100_000, seed: int = 0):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.exact_below, self.nlist, self.nprobe = exact_below, nlist, nprobe
        self.hnsw_m, self.ef_search, self.ef_construction = hnsw_m, ef_search, ef_construction
        self.train_sample, self.seed = train_sample, seed
        self.ids: np.ndarray | None = None
        self.index: faiss.Index | None = None
        self.built_kind: str | None = None

    @property
    def dim(self) -> int:
        return self._require().d

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def _require(self) -> faiss.Index:
        if self.index is None:
            raise RuntimeError("AnnIndex is empty: call build() or load() first")
        return self.index

    def build(self, ids: np.ndarray | list, vectors: np.ndarray) -> AnnIndex:
        vecs = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        ids = np.asarray(ids)
        if vecs.ndim != 2 or vecs.shape[0] == 0 or vecs.shape[1] == 0:
            raise ValueError(f"vectors must be a non-empty (n, d) array, got shape {vecs.shape}")
        if len(ids) != vecs.shape[0]:
            raise ValueError(f"{len(ids)} ids for {vecs.shape[0]} vectors")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or inf")
        n, d = vecs.shape
        kind = self.kind
        if kind == "auto":
            kind = "flat" if n < self.exact_below else "ivf"
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
        else:
            # ~4 sqrt(n) lists, at least 39 training points per centroid (faiss warns below that).
            nlist = self.nlist or max(1, min(int(4 * np.sqrt(n)), n // 39))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(self.seed)
            sample = vecs if n <= self.train_sample else vecs[rng.choice(n, self.train_sample, replace=False)]
            index.train(sample)
            index.nprobe = min(self.nprobe, nlist)
        index.add(vecs)
        self.index, self.ids, self.built_kind = index, ids, kind
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product: (ids (m, k), scores (m, k) float32), best first. When fewer than k items
        are reachable, the missing slots hold score -inf and the id of row 0 (mask with the score)."""
        index = self._require()
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != index.d:
            raise ValueError(f"queries must be (m, {index.d}), got shape {np.shape(queries)}")
        if k < 1:
            raise ValueError("k must be >= 1")
        k_eff = min(k, index.ntotal)
        scores, pos = index.search(q, k_eff)
        missing = pos < 0
        scores = np.where(missing, -np.inf, scores).astype(np.float32)
        ids = self.ids[np.where(missing, 0, pos)]
        if k_eff < k:  # pad to the requested width
            pad = k - k_eff
            ids = np.concatenate([ids, np.repeat(ids[:, :1], pad, axis=1)], axis=1)
            scores = np.concatenate([scores, np.full((len(q), pad), -np.inf, np.float32)], axis=1)
        return ids, scores

    def save(self, directory: str | Path) -> Path:
        index = self._require()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(d / "index.faiss"))
        np.save(d / "ids.npy", self.ids, allow_pickle=False)
        (d / "ann.json").write_text(json.dumps({"format": "reelflow-ann/1", "kind": self.built_kind,
                                                "nprobe": self.nprobe, "ef_search": self.ef_search}))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> AnnIndex:
        d = Path(directory)
        meta = json.loads((d / "ann.json").read_text())
        if meta.get("format") != "reelflow-ann/1":
            raise ValueError(f"{d} does not hold a reelflow ANN index")
        out = cls(meta["kind"], nprobe=meta["nprobe"], ef_search=meta["ef_search"])
        out.index = faiss.read_index(str(d / "index.faiss"))
        out.ids = np.load(d / "ids.npy", allow_pickle=False)
        out.built_kind = meta["kind"]
        if len(out.ids) != out.index.ntotal:
            raise ValueError(f"{d}: {len(out.ids)} ids for {out.index.ntotal} vectors")
        return out
