"""Storage tiering: the renditions of videos nobody watched for N days move to a cold bucket, and come
back when someone asks for them again (the edge reads the cold bucket as a slower origin and restores).

A move copies every object of the current publication first and deletes the hot copies after, so each
object is always in one bucket or the other; the edge tries hot, then cold. The catalog does not change:
keys stay the same, only the bucket differs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select

from catalog.db import session_scope
from catalog.models import InteractionEvent, Video, VideoState
from config.clients import origin_store, sessions
from config.settings import Settings

log = logging.getLogger("jobs.tiering")


def cold_candidates(settings: Settings, *, days: int | None = None, now: datetime | None = None,
                    limit: int = 1000) -> list[str]:
    """Ready videos published more than ``days`` ago with no player event in the last ``days``."""
    days = settings.cold_after_days if days is None else days
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    watched = exists().where(InteractionEvent.video_id == Video.id, InteractionEvent.occurred_at >= since)
    with session_scope(sessions(settings)) as s:
        return list(s.scalars(select(Video.id).where(
            Video.state == VideoState.READY, Video.deleted_at.is_(None), Video.publish_prefix.is_not(None),
            Video.ready_at < since, ~watched).order_by(Video.ready_at).limit(limit)))


@dataclass
class TierReport:
    moved: dict[str, int]  # video id -> objects


def _current_prefix(settings: Settings, video_id: str) -> str | None:
    with session_scope(sessions(settings)) as s:
        video = s.get(Video, video_id)
        # A deleted video has no current publication: nothing of it moves between tiers again.
        return f"{video.publish_prefix}/" if video and video.publish_prefix and video.deleted_at is None else None


def freeze(settings: Settings, video_ids: list[str]) -> TierReport:
    """Move these videos' current publications to the cold bucket."""
    store = origin_store(settings)
    store.ensure_buckets(settings.cold_bucket)
    report = TierReport({})
    for vid in video_ids:
        prefix = _current_prefix(settings, vid)
        if prefix:
            report.moved[vid] = store.move_prefix(settings.vod_bucket, settings.cold_bucket, prefix)
    return report


def restore(settings: Settings, video_id: str) -> int:
    """Bring a video's publication back to the hot bucket (what the edge does on a cold read)."""
    prefix = _current_prefix(settings, video_id)
    return origin_store(settings).move_prefix(settings.cold_bucket, settings.vod_bucket, prefix) if prefix else 0
