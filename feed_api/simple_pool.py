"""The stand-in candidate pool until the recommendation DAGs write ``pool:{user}``: trending (the user's
region first) + videos with the user's interest tags + followed creators' recent videos."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import redis
from sqlalchemy.orm import Session

from adapters import live_store
from catalog import feeds

SOURCE_WEIGHTS = {"trending": 1.0, "interest": 1.2, "following": 1.1}


def merge_sources(rows: Sequence[tuple[str, float, str]]) -> dict[str, float]:
    """Rank-normalise each source's scores to (0, 1], weight the source, keep each video's best."""
    by_source: dict[str, list[tuple[str, float]]] = {}
    for vid, s, src in rows:
        by_source.setdefault(src, []).append((vid, s))
    merged: dict[str, float] = {}
    for src, items in by_source.items():
        scores = np.array([s for _, s in items])
        ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable")
        norm = (ranks + 1) / len(items)
        for (vid, _), v in zip(items, norm, strict=True):
            merged[vid] = max(merged.get(vid, 0.0), float(v) * SOURCE_WEIGHTS.get(src, 1.0))
    return merged


def build_pool(session: Session, r: redis.Redis | None, keys: live_store.Keys, viewer: feeds.Viewer, *,
               interests: Sequence[str], region: str | None, now: datetime, size: int = 300) -> dict[str, float]:
    """Compute the pool and, when Redis is given, store it; the pool either way."""
    rows = feeds.candidates_for(session, viewer, interests=interests, region=region, as_of=now, limit=size)
    pool = merge_sources(rows)
    if r is not None and viewer.user_id:
        live_store.write_pool(r, keys, viewer.user_id, pool.items(), source="simple", ttl_s=600)
    return pool
