"""Pipeline figures computed from the catalog: videos per state, failures per reason, encoders used,
step durations and bytes published. Read by ``reelflow status`` and by the API's ``/metrics``, so the
pipeline needs no push gateway: its record of work is the catalog, which every task already writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.models import PendingPurge, Rendition, Video, VideoState


@dataclass
class PipelineSnapshot:
    videos_by_state: dict[str, int]
    failures_24h: dict[str, int]
    encoders: dict[str, int]  # renditions of ready videos by encoder
    step_seconds: dict[str, list[float]]  # per step, over videos ready in the last 24 h
    published_bytes_estimate: int  # sum of average bit rate x duration over ready renditions
    pending_purges: int


def pipeline_snapshot(session: Session, *, now: datetime | None = None) -> PipelineSnapshot:
    now = now or datetime.now(UTC)
    day = now - timedelta(hours=24)
    by_state = {str(k): n for k, n in session.execute(
        select(Video.state, func.count()).where(Video.deleted_at.is_(None)).group_by(Video.state))}
    failures = {k: n for k, n in session.execute(
        select(Video.failure_code, func.count()).where(Video.failure_code.is_not(None),
                                                       Video.created_at >= day).group_by(Video.failure_code))}
    encoders = {k: n for k, n in session.execute(
        select(Rendition.encoder, func.count()).join(Video, Video.id == Rendition.video_id)
        .where(Video.state == VideoState.READY, Video.deleted_at.is_(None)).group_by(Rendition.encoder))}
    steps: dict[str, list[float]] = {}
    for (seconds,) in session.execute(select(Video.step_seconds).where(Video.ready_at >= day)):
        for step, value in (seconds or {}).items():
            steps.setdefault(step, []).append(float(value))
    published = 0
    for bps, source in session.execute(
            select(Rendition.average_bandwidth, Video.source).join(Video, Video.id == Rendition.video_id)
            .where(Video.state == VideoState.READY, Video.deleted_at.is_(None))):
        published += int(bps * float((source or {}).get("duration_s") or 0) / 8)
    pending = session.scalar(select(func.count()).select_from(PendingPurge)) or 0
    return PipelineSnapshot(by_state, failures, encoders, steps, published, pending)
