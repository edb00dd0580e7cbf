"""What every interaction does besides its own write: the durable log, live counters, the trending sets and
the near-real-time profile. Redis is the fast path; while it is down, counters go straight to
PostgreSQL and views are de-duplicated against the log, so nothing is lost or double-counted."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from adapters import live_store
from catalog import counters, events
from catalog.db import session_scope
from feed_api.cards import Card
from feed_api.live import LiveUnavailable
from feed_api.services import Services


@dataclass
class LiveUpdate:
    """Deltas gathered while handling one request, applied after its transaction commits."""

    region: str
    counters: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    profile: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    trend: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def count(self, video_id: str, name: str, n: int = 1) -> None:
        c = self.counters[video_id]
        c[name] = c.get(name, 0) + n

    def signal(self, card: Card, kind: str, at: float) -> None:
        """Profile and trending weights of one event on one video."""
        w = live_store.PROFILE_WEIGHTS.get(kind, 0.0)
        if w:
            for name, v in live_store.profile_fields(card["_"]["tags"], card["_"]["creator"], w).items():
                self.profile[name] += v
        tw = live_store.trend_weight(kind, at)
        if tw:
            self.trend[card["id"]] += tw


def apply(svc: Services, user: str, update: LiveUpdate) -> str:
    """Push the update to Redis; if Redis is down, put the counters into PostgreSQL. Where they went."""
    keys, now = svc.live.keys, time.time()
    counters_ = {v: d for v, d in update.counters.items() if any(d.values())}

    def trip(r):
        pipe = r.pipeline(transaction=False)
        for vid, d in counters_.items():
            for name, n in d.items():
                if n:
                    pipe.hincrby(keys.counter(vid), name, n)
        if counters_:
            pipe.sadd(keys.dirty, *counters_)
        for region in {update.region, "global"}:
            for vid, w in update.trend.items():
                pipe.zincrby(keys.trend(region, now), w, vid)
        if update.profile:
            svc.live.script(pipe, "profile", [keys.profile(user)], live_store.profile_args(now, update.profile))
        return pipe.execute()

    if not (counters_ or update.trend or update.profile):
        return "none"
    try:
        svc.live.run_sync(trip)
        return "redis"
    except LiveUnavailable:
        if counters_:
            with session_scope(svc.sessions) as s:
                counters.add_deltas(s, counters_)
        return "postgresql"


def dedup_views(svc: Services, session: Session, user: str, video_ids: Iterable[str], at: float) -> set[str]:
    """Which of these view starts count (one per user, video and clock hour)."""
    video_ids = list(dict.fromkeys(video_ids))
    if not video_ids:
        return set()
    keys = svc.live.keys

    def trip(r):
        pipe = r.pipeline(transaction=False)
        for vid in video_ids:
            pipe.set(keys.view_dedup(user, vid, at), 1, nx=True, ex=live_store.VIEW_DEDUP_S)
        return pipe.execute()

    try:
        return {vid for vid, fresh in zip(video_ids, svc.live.run_sync(trip), strict=True) if fresh}
    except LiveUnavailable:
        # Serialise this user's batches so two concurrent ones cannot both count the same view.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:u))"), {"u": f"views:{user}"})
        from datetime import UTC, datetime

        already = events.counted_views_this_hour(session, user, video_ids, datetime.fromtimestamp(at, UTC))
        return set(video_ids) - already


def live_deltas(svc: Services, video_ids: list[str]) -> Mapping[str, Mapping[str, str]]:
    """Counter deltas not yet flushed, per video ({} while Redis is down)."""
    try:
        def trip(r):
            pipe = r.pipeline(transaction=False)
            for vid in video_ids:
                pipe.hgetall(svc.live.keys.counter(vid))
            return pipe.execute()
        return dict(zip(video_ids, svc.live.run_sync(trip), strict=True))
    except LiveUnavailable:
        return {}
