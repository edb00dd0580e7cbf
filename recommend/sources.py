"""Candidate sources for the batch pools: pure functions over arrays and lists, no I/O.

Every source answers the same question — per user, which videos and how strongly — as
``{user_id: [(video_id, score), ...]}``, best first, scores comparable within a source only (the pool
merger works on ranks). :class:`CandidateSource` is that contract, so two-tower retrieval (trained
elsewhere, loaded from the model registry) plugs in beside the hand-written sources here.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Scored = list[tuple[str, float]]

# Engagement weights per event kind for trending velocity (a completion says more than a start).
TREND_KIND_WEIGHTS = {"view_start": 1.0, "complete": 2.0, "like": 3.0, "comment": 2.0, "share": 5.0,
                      "skip": -0.5}
TREND_HALF_LIFE_S = 6 * 3600
# What counts as a positive signal for "more like this", with its weight.
SEED_WEIGHTS = {"complete": 1.0, "like": 2.0, "share": 2.0, "progress": 0.3}
SEED_HALF_LIFE_S = 3 * 86400


class CandidateSource(Protocol):
    name: str

    def candidates(self, users: Sequence[str], k: int) -> dict[str, Scored]:
        """Up to ``k`` (video, score) per user, best first; users it knows nothing about may be absent."""
        ...


@dataclass(frozen=True)
class TrendEvent:
    video_id: str
    region: str  # the viewer's region
    kind: str
    at: float  # unix seconds


def trending_velocity(events: Iterable[TrendEvent], now: float, *, half_life_s: float = TREND_HALF_LIFE_S,
                      k: int = 500, weights: Mapping[str, float] = TREND_KIND_WEIGHTS) -> dict[str, Scored]:
    """Time-decayed engagement per region and ``global``: each event adds weight x 2^(-age / half-life).

    Velocity rather than totals: a video with 100 views in the last hour outranks one with 1000 last week.
    Events from the future (clock skew) count as now, so they cannot dominate.
    """
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in events:
        w = weights.get(e.kind, 0.0)
        if not w:
            continue
        decayed = w * 2.0 ** (-max(now - e.at, 0.0) / half_life_s)
        acc[e.region][e.video_id] += decayed
        if e.region != "global":
            acc["global"][e.video_id] += decayed
    return {region: top_k(scores, k) for region, scores in acc.items()}


def trending_for(regional: Mapping[str, Scored], region: str, k: int) -> Scored:
    """The region's own trending first, then the global list (halved) for what the region has not seen yet."""
    merged: dict[str, float] = {}
    for vid, s in regional.get("global", []):
        merged[vid] = 0.5 * s
    for vid, s in regional.get(region, []):
        merged[vid] = max(merged.get(vid, 0.0), s)
    return top_k(merged, k)


def content_similar(video_ids: Sequence[str], vectors: np.ndarray, seeds: Mapping[str, Mapping[str, float]],
                    k: int) -> dict[str, Scored]:
    """Per user, videos closest to what they recently finished or liked, by inner product of unit vectors.

    ``seeds`` maps user -> {video: weight}. A candidate scores the weighted sum of its positive similarities
    to the seeds: not the similarity to the seeds' mean, which for a user with two interests lands between
    them and near neither, and not the best single seed, which weighs one stray finish like ten finishes
    of the user's real topic. Every interest keeps neighbours, in proportion to how much it was watched.
    Content vectors exist from publish on, so brand-new videos with no interactions (cold items) are
    reachable here before any collaborative model has seen them. Seeds themselves are left out.
    """
    out: dict[str, Scored] = {}
    if not len(video_ids):
        return out
    row = {v: i for i, v in enumerate(video_ids)}
    mat = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    mat = mat / np.maximum(norms, 1e-12)
    for user, weighted in seeds.items():
        idx = [row[v] for v in weighted if v in row]
        if not idx:
            continue
        w = np.array([weighted[video_ids[i]] for i in idx], dtype=np.float32)
        sims = mat[idx] @ mat.T  # (seeds, videos); a numpy product is enough below ~1e5 videos
        best = (np.maximum(sims, 0.0) * w[:, None]).sum(axis=0)
        best[idx] = -np.inf
        take = min(k, len(video_ids) - len(idx))
        if take <= 0:
            continue
        top = np.argpartition(-best, take - 1)[:take]
        top = top[np.argsort(-best[top], kind="stable")]
        out[user] = [(video_ids[i], float(best[i])) for i in top if np.isfinite(best[i])]
    return out


def seed_weights(history: Iterable[tuple[str, str, float]], now: float, *,
                 weights: Mapping[str, float] = SEED_WEIGHTS, half_life_s: float = SEED_HALF_LIFE_S,
                 max_seeds: int = 30) -> dict[str, float]:
    """A user's recent positive videos with decayed weights, from (video, kind, at) events."""
    acc: dict[str, float] = defaultdict(float)
    for vid, kind, at in history:
        w = weights.get(kind, 0.0)
        if w:
            acc[vid] += w * 2.0 ** (-max(now - at, 0.0) / half_life_s)
    return dict(top_k(acc, max_seeds))


def following(followees: Mapping[str, Iterable[str]], recent_by_creator: Mapping[str, Scored],
              k: int) -> dict[str, Scored]:
    """Recent videos of followed creators; ``recent_by_creator`` scores are publish times (newer first)."""
    out: dict[str, Scored] = {}
    for user, creators in followees.items():
        merged = [item for c in creators for item in recent_by_creator.get(c, [])]
        if merged:
            merged.sort(key=lambda t: (-t[1], t[0]))
            out[user] = merged[:k]
    return out


def exploration(users: Sequence[str], candidates: Mapping[str, float], k: int, *, salt: str) -> dict[str, Scored]:
    """Under-exposed videos for each user, drawn without replacement with weight 1 / (1 + exposure).

    ``candidates`` maps video -> exposure (views in the window). The draw is seeded by user and ``salt`` (the
    refresh's as-of time), so a re-run of the same window writes the same pools, while the next window
    explores something else. Each user gets a different sample: exploration is spread over the catalog.
    """
    if not candidates:
        return {}
    ids = sorted(candidates)
    p = np.array([1.0 / (1.0 + max(candidates[v], 0.0)) for v in ids])
    p /= p.sum()
    take = min(k, len(ids))
    out: dict[str, Scored] = {}
    for user in users:
        rng = np.random.default_rng(_seed(user, salt))
        # Efraimidis-Spirakis: the k largest u^(1/w) are a weighted sample without replacement (in logs,
        # because u^(1/w) underflows for small w).
        keys = np.log(rng.random(len(ids))) / p
        top = np.argsort(-keys, kind="stable")[:take]
        out[user] = [(ids[i], float(take - r)) for r, i in enumerate(top)]
    return out


@dataclass
class VectorSource:
    """Retrieval by inner product of user and item vectors: the shape of two-tower serving.

    Built from whatever model produced the vectors (the registry's current two-tower version); an ANN
    index can replace the exact product through ``search`` without changing callers.
    """

    name: str
    user_index: Mapping[str, int]
    user_vectors: np.ndarray
    item_ids: Sequence[str]
    item_vectors: np.ndarray
    search: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]] | None = None

    def candidates(self, users: Sequence[str], k: int) -> dict[str, Scored]:
        known = [u for u in users if u in self.user_index]
        if not known or not len(self.item_ids):
            return {}
        q = self.user_vectors[[self.user_index[u] for u in known]].astype(np.float32)
        take = min(k, len(self.item_ids))
        if self.search is not None:
            scores, idx = self.search(q, take)
        else:
            sims = q @ np.asarray(self.item_vectors, dtype=np.float32).T
            idx = np.argsort(-sims, axis=1, kind="stable")[:, :take]
            scores = np.take_along_axis(sims, idx, axis=1)
        return {u: [(self.item_ids[int(j)], float(s)) for j, s in zip(idx[n], scores[n], strict=True) if j >= 0]
                for n, u in enumerate(known)}


@dataclass
class StaticSource:
    """A source whose answers were computed up front (trending, following, similar, exploration)."""

    name: str
    by_user: Mapping[str, Scored]
    default: Scored | None = None  # for users not in ``by_user`` (e.g. trending of their region)

    def candidates(self, users: Sequence[str], k: int) -> dict[str, Scored]:
        out = {}
        for u in users:
            items = self.by_user.get(u, self.default)
            if items:
                out[u] = list(items[:k])
        return out


def top_k(scores: Mapping[str, float], k: int) -> Scored:
    """Best ``k`` by score, ties broken by id so results do not depend on dict order."""
    items = [(v, s) for v, s in scores.items() if math.isfinite(s)]
    items.sort(key=lambda t: (-t[1], t[0]))
    return items[:k]


def _seed(user: str, salt: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{user}:{salt}".encode(), digest_size=8).digest(), "big")
