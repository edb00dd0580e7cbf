"""Light ranking for serving: a pure function over candidate features (arrays in, scores out).

No I/O and no HTTP here: the feed service gathers features (pool scores from Redis, stats from the
catalog cards, the near-real-time profile) and calls :func:`score`. The trained ranker does not replace it:
``recommend.blended_ranking`` adds the model's opinion on top of this score, and this score alone is the
fallback whenever the model cannot be used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Candidate(NamedTuple):
    """A NamedTuple, not a frozen dataclass: built ~30 times a page, and a frozen dataclass's __init__ (one
    object.__setattr__ per field) cost more than the scoring."""

    video_id: str
    creator_id: str | None
    tags: tuple[str, ...]
    sound_id: str | None
    category: str | None
    age_h: float  # hours since it became ready
    retrieval: float  # the pool's score (scale is the pool writer's business)
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0
    completions: int = 0


@dataclass(frozen=True)
class Weights:
    retrieval: float = 1.0
    tag_affinity: float = 0.8
    creator_affinity: float = 0.6
    engagement: float = 0.5
    freshness: float = 0.4
    freshness_half_life_h: float = 24.0


SMALL = 256


def percentile(x: np.ndarray) -> np.ndarray:
    """Dense-rank-normalise to [0, 1] so any pool score scale works; equal scores get equal values."""
    if x.size <= SMALL and np.isfinite(x).all():  # a page's ~30: a dict beats np.unique's sort machinery
        values = x.tolist()
        rank = {v: i for i, v in enumerate(sorted(set(values)))}
        if len(rank) <= 1:
            return np.ones_like(x, dtype=np.float64)
        return np.fromiter((rank[v] for v in values), np.float64, len(values)) / (len(rank) - 1)
    uniq, inverse = np.unique(x, return_inverse=True)
    if uniq.size <= 1:
        return np.ones_like(x, dtype=np.float64)
    return inverse.astype(np.float64) / (uniq.size - 1)


def score(cands: Sequence[Candidate], tag_weights: Mapping[str, float], creator_weights: Mapping[str, float],
          w: Weights = Weights()) -> np.ndarray:
    """One score per candidate (higher is better)."""
    n = len(cands)
    if n == 0:
        return np.zeros(0)
    retrieval = percentile(np.fromiter((c.retrieval for c in cands), np.float64, n))
    tag_aff = np.fromiter((sum(tag_weights.get(t, 0.0) for t in c.tags) for c in cands), np.float64, n)
    creator_aff = np.fromiter((creator_weights.get(c.creator_id or "", 0.0) for c in cands), np.float64, n)
    views = np.fromiter((c.views for c in cands), np.float64, n)
    positive = np.fromiter((c.likes + 2 * c.shares + c.comments + c.completions for c in cands), np.float64, n)
    engagement = (positive + 1.0) / (views + 10.0)  # smoothed: new videos are not judged on two views
    engagement = np.tanh(engagement * 2.0)
    age = np.fromiter((max(c.age_h, 0.0) for c in cands), np.float64, n)
    fresh = np.exp2(-age / w.freshness_half_life_h)
    return (w.retrieval * retrieval + w.tag_affinity * np.tanh(tag_aff) + w.creator_affinity * np.tanh(creator_aff)
            + w.engagement * engagement + w.freshness * fresh)
