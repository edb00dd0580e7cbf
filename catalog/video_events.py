"""A video's processing as its creator follows it: an append-only list of events per video.

Each event is written in the transaction that makes the change it reports (the state moves in
``catalog.videos`` record their own), so a reader that follows the ids in order never misses a stage and
never sees one that was rolled back. The commit also sends a PostgreSQL NOTIFY on ``CHANNEL`` with the
video id, for readers that wait instead of polling. Events that a creator must hear about even when not
watching the stream (playable, rejected, failed) also leave a notification for the video's creator.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog import notifications
from catalog.models import Video, VideoEvent

CHANNEL = "video_events"


class EventKind(StrEnum):
    PROCESSING = "processing"  # the upload is complete and a pipeline run took it (or a re-run began)
    VALIDATED = "validated"  # probed, within the limits, decoded once without fatal errors
    REJECTED = "rejected"  # the upload cannot become a video: detail has code (e.g. duplicate) and reason
    PLAYABLE = "playable"  # a first H.264 ladder is published: detail has master_key and renditions
    CODEC_ENCODED = "codec_encoded"  # one codec's rungs are encoded; they join playback at "ready"
    READY = "ready"  # the full ladder is published (the atomic switch): detail has codecs and master_key
    FAILED = "failed"  # processing failed on our side after retries: detail has code and reason
    REMOVED = "removed"  # taken down by a moderator: detail has reason
    RESTORED = "restored"  # a removal reversed (an upheld appeal): detail has reason and state


# The stream ends after one of these (a re-run may start a new sequence later).
TERMINAL = frozenset({EventKind.READY, EventKind.REJECTED, EventKind.FAILED, EventKind.REMOVED})
# Which events leave an in-app notification for the video's creator.
NOTIFY_CREATOR = {EventKind.PLAYABLE: "video_playable", EventKind.REJECTED: "video_rejected",
                  EventKind.FAILED: "video_failed", EventKind.REMOVED: "video_removed",
                  EventKind.RESTORED: "video_restored"}


def record(session: Session, video_id: str, kind: EventKind, detail: dict | None = None, *,
           run_id: str | None = None) -> VideoEvent:
    """Append an event (and the creator's notification, for the kinds in ``NOTIFY_CREATOR``)."""
    event = VideoEvent(video_id=video_id, kind=EventKind(kind).value, detail=detail or {}, run_id=run_id)
    session.add(event)
    notification = NOTIFY_CREATOR.get(EventKind(kind))
    if notification is not None:
        creator = session.scalar(select(Video.creator_id).where(Video.id == video_id))
        if creator is not None:
            notifications.notify(session, creator, notification, video_id=video_id, detail=detail)
    session.flush()
    session.execute(select(func.pg_notify(CHANNEL, video_id)))  # delivered at commit, dropped on rollback
    return event


def videos_with_terminal_events(session: Session, after: datetime) -> set[str]:
    """Videos with a run that ended (ready, rejected, failed) after ``after``."""
    return set(session.scalars(select(VideoEvent.video_id).distinct().where(
        VideoEvent.kind.in_([k.value for k in TERMINAL]), VideoEvent.created_at >= after)))


def ended_runs(session: Session, video_ids: Collection[str]) -> dict[str, dict[str, datetime]]:
    """Per video, each run that ended (a terminal event with its run id) and when it last did."""
    ended: dict[str, dict[str, datetime]] = {}
    ids = list(video_ids)
    for i in range(0, len(ids), 1000):
        rows = session.execute(select(VideoEvent.video_id, VideoEvent.run_id, func.max(VideoEvent.created_at)).where(
            VideoEvent.video_id.in_(ids[i:i + 1000]), VideoEvent.kind.in_([k.value for k in TERMINAL]),
            VideoEvent.run_id.is_not(None)).group_by(VideoEvent.video_id, VideoEvent.run_id))
        for video_id, run_id, at in rows:
            ended.setdefault(video_id, {})[run_id] = at
    return ended


def since(session: Session, video_id: str, after_id: int = 0, *, limit: int = 100) -> Sequence[VideoEvent]:
    """The video's events after ``after_id``, oldest first."""
    return session.scalars(select(VideoEvent).where(VideoEvent.video_id == video_id, VideoEvent.id > after_id)
                           .order_by(VideoEvent.id).limit(limit)).all()
