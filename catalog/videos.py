"""Repository functions for videos: creation and the guarded state machine of processing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from catalog import video_events
from catalog.models import Privacy, Rendition, Video, VideoState, new_video_id, utcnow
from catalog.sounds import ensure_library
from catalog.video_events import EventKind

# Which state may follow which. Re-processing (a content team re-running the DAG) is allowed from
# playable, ready and failed; uploading may only go forward once the client says the upload is complete.
TRANSITIONS: dict[VideoState, frozenset[VideoState]] = {
    VideoState.UPLOADING: frozenset({VideoState.PROCESSING, VideoState.FAILED}),
    VideoState.PROCESSING: frozenset({VideoState.PLAYABLE, VideoState.READY, VideoState.FAILED}),
    # A playable video is served: it only moves on to its full ladder, or is rejected by a later step.
    VideoState.PLAYABLE: frozenset({VideoState.READY, VideoState.FAILED}),
    # READY -> READY is a re-run's switch: the video keeps serving its old publication while it is re-processed.
    VideoState.READY: frozenset({VideoState.PROCESSING, VideoState.READY}),
    VideoState.FAILED: frozenset({VideoState.PROCESSING}),
    # Taken down: no pipeline step (ingest, re-ladder, a re-run's publish) may move it on. Only a moderator's
    # restore (catalog.moderation) sets the state it had, outside this machine.
    VideoState.REMOVED: frozenset(),
}


class VideoDeleted(ValueError):
    def __init__(self, video_id: str) -> None:
        super().__init__(f"video {video_id!r} has been deleted")
        self.video_id = video_id


class VideoNotFound(LookupError):
    def __init__(self, video_id: str) -> None:
        super().__init__(f"video {video_id!r} does not exist")
        self.video_id = video_id


class InvalidTransition(ValueError):
    def __init__(self, video_id: str, current: str, wanted: str) -> None:
        super().__init__(f"video {video_id!r} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


@dataclass(frozen=True)
class RenditionRecord:
    name: str
    kind: str
    codecs: str
    encoder: str
    width: int
    height: int
    bandwidth: int
    average_bandwidth: int
    playlist_key: str


def raw_key_for(video_id: str) -> str:
    """Where the creator's upload lands: the one key the presigned URLs name (the video's raw_key until complete)."""
    return f"uploads/{video_id}/source"


SEALED_ROOT = "sealed"


def sealed_key_for(video_id: str) -> str:
    """Where ``complete`` copies the upload: no URL names this key, so what the pipeline reads cannot change."""
    return f"{SEALED_ROOT}/{video_id}/source"


def video_id_for_raw_key(key: str) -> str | None:
    """The video whose upload lands at ``key``; None for any other key (staging, sealed copies, strays)."""
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "uploads" and parts[2] == "source" and parts[1] else None


def video_id_for_sealed_key(key: str) -> str | None:
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == SEALED_ROOT and parts[2] == "source" and parts[1] else None


def create_video(session: Session, *, caption: str = "", hashtags: Iterable[str] = (),
                 creator_id: str | None = None, privacy: str = Privacy.PUBLIC, sound_id: str | None = None,
                 category: str | None = None, region: str | None = None, upload_size: int | None = None) -> Video:
    video_id = new_video_id()
    hashtags = list(hashtags)
    video = Video(id=video_id, caption=caption, hashtags=hashtags, tag_keys=[t.lower() for t in hashtags],
                  creator_id=creator_id, privacy=Privacy(privacy), sound_id=sound_id, category=category,
                  region=region, state=VideoState.UPLOADING, raw_key=raw_key_for(video_id), upload_size=upload_size)
    if sound_id is not None:  # every sound id names a sound: an unknown one becomes a library sound
        ensure_library(session, sound_id)
    session.add(video)
    session.flush()
    return video


CAPTION_TAG = re.compile(r"#(\w{1,64})(?!\w)", re.UNICODE)
MAX_HASHTAGS = 30
PRIVACY_RANK = {Privacy.PUBLIC: 0, Privacy.FOLLOWERS: 1, Privacy.PRIVATE: 2}  # who may see it, widest first


def caption_tags(caption: str) -> list[str]:
    """The hashtags written in a caption (``#word``), first spelling of each, in order."""
    out: list[str] = []
    for tag in CAPTION_TAG.findall(caption):
        if tag.lower() not in {t.lower() for t in out}:
            out.append(tag)
    return out


def retag(old_caption: str, new_caption: str, hashtags: Iterable[str]) -> list[str]:
    """The hashtags after a caption edit: those written in the old caption leave with it, those in the new one
    come; tags picked apart from the caption (the upload's list) stay. At most MAX_HASHTAGS."""
    written = {t.lower() for t in caption_tags(old_caption)}
    kept = [t for t in hashtags if t.lower() not in written]
    for tag in caption_tags(new_caption):
        if tag.lower() not in {t.lower() for t in kept}:
            kept.append(tag)
    return kept[:MAX_HASHTAGS]


def narrows(old: str, new: str) -> bool:
    """Fewer people may see the video under ``new`` than under ``old``."""
    return PRIVACY_RANK[Privacy(new)] > PRIVACY_RANK[Privacy(old)]


def edit(session: Session, video: Video, *, caption: str | None = None, privacy: str | None = None,
         hashtags: Iterable[str] | None = None) -> bool:
    """The creator's edit of a loaded (locked) video; True when it narrows who may see the video, which the
    caller must purge from the edge in the same transaction (``jobs.purge.enqueue``)."""
    tags = list(video.hashtags or [])
    if caption is not None and caption != video.caption:
        tags = retag(video.caption, caption, tags)
        video.caption = caption
    if hashtags is not None:
        tags = list(hashtags)[:MAX_HASHTAGS]
    if tags != list(video.hashtags or []):
        video.hashtags, video.tag_keys = tags, [t.lower() for t in tags]
    narrowed = False
    if privacy is not None and privacy != video.privacy:
        narrowed = narrows(video.privacy, privacy)
        video.privacy = Privacy(privacy)
    session.flush()
    return narrowed


def get_video(session: Session, video_id: str, *, for_update: bool = False) -> Video:
    stmt = select(Video).where(Video.id == video_id).options(selectinload(Video.renditions))
    if for_update:
        stmt = stmt.with_for_update()
    video = session.scalars(stmt).one_or_none()
    if video is None:
        raise VideoNotFound(video_id)
    return video


def _move(session: Session, video_id: str, wanted: VideoState) -> Video:
    video = get_video(session, video_id, for_update=True)
    if video.deleted_at is not None:  # a pipeline run racing a delete must not bring the video back
        raise VideoDeleted(video_id)
    if wanted not in TRANSITIONS[VideoState(video.state)]:
        raise InvalidTransition(video_id, video.state, wanted)
    video.state = wanted
    return video


def start_processing(session: Session, video_id: str, *, run_id: str | None = None) -> Video:
    video = _move(session, video_id, VideoState.PROCESSING)
    now = utcnow()
    if video.upload_completed_at is None:
        video.upload_completed_at = now
    video.processing_started_at = now
    video.pipeline_run_id = run_id
    video.step_seconds = {}
    video.failure_code = video.failure_reason = None
    video_events.record(session, video_id, EventKind.PROCESSING, run_id=run_id)
    return video


def set_multipart(session: Session, video_id: str, *, upload_id: str, part_size: int) -> Video:
    video = get_video(session, video_id, for_update=True)
    video.upload_id, video.upload_part_size = upload_id, part_size
    return video


def waiting_for_upload(session: Session, video_id: str, upload_id: str) -> Video | None:
    """The video, locked, if it still waits for the multipart upload ``upload_id``; None otherwise (gone,
    deleted, completed, or registered with another upload)."""
    video = session.scalars(select(Video).where(Video.id == video_id).with_for_update()).one_or_none()
    if video is None or video.deleted_at is not None or video.state != VideoState.UPLOADING:
        return None
    return video if video.upload_id == upload_id else None


def seal_raw(session: Session, video_id: str, key: str) -> Video:
    """Point the video at its sealed copy (part of ``complete``'s transaction): the pipeline reads only this."""
    video = get_video(session, video_id, for_update=True)
    video.raw_key = key
    return video


def uploading_since(session: Session, before: datetime) -> list[str]:
    """Videos registered before ``before`` and still waiting for their upload (not deleted)."""
    return list(session.scalars(select(Video.id).where(Video.state == VideoState.UPLOADING,
                                                       Video.deleted_at.is_(None), Video.created_at < before)))


def videos_by_id(session: Session, ids: Iterable[str]) -> dict[str, Video]:
    ids = list(ids)
    found: dict[str, Video] = {}
    for i in range(0, len(ids), 1000):
        found.update((v.id, v) for v in session.scalars(select(Video).where(Video.id.in_(ids[i:i + 1000]))))
    return found


def own_videos(session: Session, creator_id: str, *, limit: int = 50) -> list[Video]:
    """A creator's videos in every state but deleted, newest first: the studio's list (failed ones too)."""
    stmt = (select(Video).where(Video.creator_id == creator_id, Video.deleted_at.is_(None))
            .order_by(Video.created_at.desc(), Video.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def set_pipeline_run(session: Session, video_id: str, run_id: str) -> None:
    get_video(session, video_id, for_update=True).pipeline_run_id = run_id


def record_step_time(session: Session, video_id: str, step: str, seconds: float) -> None:
    video = get_video(session, video_id, for_update=True)
    video.step_seconds = {**(video.step_seconds or {}), step: round(seconds, 3)}


def record_source(session: Session, video_id: str, source: dict) -> None:
    get_video(session, video_id, for_update=True).source = source


# The failure code of an error on our side (after retries); every other code says what is wrong with the upload.
PROCESSING_ERROR = "processing_error"


def mark_failed(session: Session, video_id: str, *, code: str, reason: str) -> Video:
    video = _move(session, video_id, VideoState.FAILED)
    video.failure_code, video.failure_reason = code, reason
    kind = EventKind.FAILED if code == PROCESSING_ERROR else EventKind.REJECTED
    video_events.record(session, video_id, kind, {"code": code, "reason": reason}, run_id=video.pipeline_run_id)
    return video


def _switch(video: Video, session: Session, publish_prefix: str, master_key: str,
            renditions: Iterable[RenditionRecord]) -> None:
    video.publish_prefix, video.master_key = publish_prefix, master_key
    video.renditions.clear()
    session.flush()
    video.renditions.extend(Rendition(**vars(r)) for r in renditions)


def mark_playable(session: Session, video_id: str, *, publish_prefix: str, master_key: str,
                  renditions: Iterable[RenditionRecord]) -> Video:
    """Serve a first, partial publication (the H.264 ladder) while the rest of the ladder is encoded."""
    video = _move(session, video_id, VideoState.PLAYABLE)
    renditions = list(renditions)
    _switch(video, session, publish_prefix, master_key, renditions)
    video.playable_at = utcnow()
    video_events.record(session, video_id, EventKind.PLAYABLE,
                        {"master_key": master_key, "renditions": [r.name for r in renditions]},
                        run_id=video.pipeline_run_id)
    return video


def mark_ready(session: Session, video_id: str, *, publish_prefix: str, master_key: str,
               renditions: Iterable[RenditionRecord], poster_key: str | None = None,
               sprite_vtt_key: str | None = None) -> Video:
    """Point the video at a newly published package, replacing the previous renditions atomically."""
    video = _move(session, video_id, VideoState.READY)
    renditions = list(renditions)
    _switch(video, session, publish_prefix, master_key, renditions)
    video.poster_key, video.sprite_vtt_key = poster_key, sprite_vtt_key
    video.ready_at = utcnow()
    if video.playable_at is None:  # no playable stage (a re-run, or a run without one): watchable from now
        video.playable_at = video.ready_at
    video_events.record(session, video_id, EventKind.READY,
                        {"master_key": master_key, "renditions": [r.name for r in renditions]},
                        run_id=video.pipeline_run_id)
    return video


def tombstone(session: Session, video_id: str) -> Video:
    """Mark the video deleted (idempotent). The row stays, so ids are never reused and the log keeps meaning."""
    video = get_video(session, video_id, for_update=True)
    if video.deleted_at is None:
        video.deleted_at = utcnow()
    return video
