"""The durable interaction log: batched appends, the PostgreSQL view de-duplication used while Redis is
down, and the per-video aggregates creator analytics read. Rows are never updated or deleted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, case, cast, func, insert, select
from sqlalchemy.orm import Session

from catalog.models import InteractionEvent, utcnow

CLIENT_KINDS = ("view_start", "progress", "complete", "skip")
SERVER_KINDS = ("like", "unlike", "share", "comment", "follow", "unfollow", "not_interested")


@dataclass
class Event:
    user_id: str
    kind: str
    video_id: str | None = None
    session_id: str | None = None
    watch_ms: int | None = None
    progress: float | None = None
    counted: bool = False
    occurred_at: datetime = field(default_factory=utcnow)
    extra: dict | None = None


def append(session: Session, events: Sequence[Event]) -> int:
    """One multi-row INSERT for the whole batch."""
    if not events:
        return 0
    session.execute(insert(InteractionEvent), [vars(e) for e in events])
    return len(events)


def hour_start(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def counted_views_this_hour(session: Session, user_id: str, video_ids: Sequence[str], now: datetime) -> set[str]:
    """Videos the user already has a counted view for in this clock hour (the de-dup Redis does normally)."""
    if not video_ids:
        return set()
    stmt = select(InteractionEvent.video_id).where(
        InteractionEvent.user_id == user_id, InteractionEvent.video_id.in_(list(video_ids)),
        InteractionEvent.kind == "view_start", InteractionEvent.counted.is_(True),
        InteractionEvent.occurred_at >= hour_start(now)).distinct()
    return set(session.scalars(stmt))


@dataclass(frozen=True)
class HourStats:
    hour: datetime
    views: int
    completions: int
    watch_ms: int


def hourly(session: Session, video_id: str, *, hours: int = 48, now: datetime | None = None) -> list[HourStats]:
    """Counted views, completions and watch time per clock hour over the last ``hours`` (empty hours left out)."""
    now = now or utcnow()
    e = InteractionEvent
    bucket = func.date_trunc("hour", e.occurred_at).label("hour")
    stmt = (select(bucket,
                   func.count().filter(and_(e.kind == "view_start", e.counted.is_(True))),
                   func.count().filter(e.kind == "complete"),
                   func.coalesce(func.sum(cast(e.watch_ms, Integer)).filter(e.kind.in_(CLIENT_KINDS)), 0))
            .where(e.video_id == video_id, e.occurred_at >= hour_start(now) - timedelta(hours=hours - 1))
            .group_by(bucket).order_by(bucket))
    return [HourStats(h, int(v), int(c), int(w)) for h, v, c, w in session.execute(stmt)]


RETENTION_STEPS = 10  # the curve's points: 0 %, 10 %, ... 100 % of the video


def retention_curve(furthest: Sequence[float], steps: int = RETENTION_STEPS) -> list[float]:
    """Share of views still watching at each ``1/steps`` of the video, from how far each view got (0..1).

    A view counts at a mark when it reached it; the first point is always 1.0 (every view started) unless
    there are no views, where the curve is all zeros."""
    if not furthest:
        return [0.0] * (steps + 1)
    n = len(furthest)
    eps = 1e-6  # 0.3 reached through float sums still counts at the 30 % mark
    return [round(sum(1 for f in furthest if f + eps >= i / steps) / n, 4) for i in range(steps + 1)]


def furthest_progress(session: Session, video_id: str, *, hours: int = 48, now: datetime | None = None
                      ) -> list[float]:
    """How far each view of the last ``hours`` got: per (viewer, playback session), the highest progress
    reported, 1.0 once it completed. A view is a session with a view_start or any progress."""
    now = now or utcnow()
    e = InteractionEvent
    reached = func.max(case((e.kind == "complete", 1.0), else_=func.coalesce(e.progress, 0.0)))
    stmt = (select(reached)
            .where(e.video_id == video_id, e.kind.in_(("view_start", "progress", "complete")),
                   e.occurred_at >= hour_start(now) - timedelta(hours=hours - 1))
            .group_by(e.user_id, func.coalesce(e.session_id, "")))
    return [min(1.0, float(f)) for f in session.scalars(stmt)]
