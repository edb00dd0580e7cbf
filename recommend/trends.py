"""Trending hashtags and sounds: a windowed, decayed engagement score over arrays.

A term's score is the sum, over the last ``window_h`` hours, of the people who engaged with its videos in each
hour, weighted by what they did (a share says more than a view) and halved every ``half_life_h`` hours of
age. People, not events: the catalog counts distinct users per hour, so one account replaying a video cannot
make a tag trend, and a term needs ``min_users`` different people in the window to appear at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# Interaction-log kinds (catalog.events) -> weight. A counted view_start is a view; skips and progress say
# little about what people like, unlikes and unfollows nothing positive.
DEFAULT_WEIGHTS: Mapping[str, float] = {"view_start": 1.0, "complete": 2.0, "like": 3.0, "comment": 4.0,
                                        "share": 5.0}


@dataclass(frozen=True)
class TrendConfig:
    window_h: float = 48.0
    half_life_h: float = 6.0
    min_users: int = 2
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


@dataclass(frozen=True)
class Trend:
    key: str
    score: float
    users: int  # distinct people in the window


def trend_scores(keys: Sequence[str], kinds: Sequence[str], age_h: np.ndarray, users: np.ndarray,
                 window_users: Mapping[str, int], cfg: TrendConfig = TrendConfig(), *,
                 limit: int | None = None) -> list[Trend]:
    """Rows are (term, event kind, hours since the hour's middle, distinct users in that hour); ``window_users``
    is each term's distinct users over the whole window. Best first; ties by term."""
    age = np.asarray(age_h, float)
    weight = np.array([cfg.weights.get(k, 0.0) for k in kinds], float)
    inside = (age >= 0) & (age <= cfg.window_h)
    contrib = np.where(inside, weight * np.asarray(users, float) * np.exp2(-np.maximum(age, 0) / cfg.half_life_h),
                       0.0)
    totals: dict[str, float] = defaultdict(float)
    for key, c in zip(keys, contrib, strict=True):
        totals[key] += float(c)
    out = [Trend(k, s, int(window_users.get(k, 0))) for k, s in totals.items()
           if s > 0 and window_users.get(k, 0) >= cfg.min_users]
    out.sort(key=lambda t: (-t.score, t.key))
    return out[:limit] if limit is not None else out
