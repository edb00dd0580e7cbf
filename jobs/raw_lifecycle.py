"""The raw bucket's lifecycle (the ``upload_lifecycle`` DAG, after the abandoned-upload sweep): what may stay
there and for how long, decided object by object from the catalog.

The raw bucket holds, per video, the upload key (``uploads/<id>/source``, the one key presigned URLs name)
and, once ``complete`` sealed it, the sealed copy (``sealed/<id>/source``, the video's ``raw_key``, the
only key the pipeline reads). Kept: the raw file of a video that is uploading, processing or served (re-runs
read it), and of a failed one for ``raw_retention_s`` after it failed; an upload key while the video still
waits for its file. Deleted: a stray at the upload key after ``complete`` (a PUT through the old URL), a
sealed copy the video does not point to, the files of a deleted video, the raw file of a video failed longer
ago than the retention, and objects of no video once older than the abandon cut-off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.s3 import ObjectInfo
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Video, VideoState
from config.clients import origin_store, sessions
from config.settings import Settings

log = logging.getLogger("jobs.raw_lifecycle")
PREFIXES = ("uploads/", f"{repo.SEALED_ROOT}/")


@dataclass
class RawReport:
    deleted: dict[str, str] = field(default_factory=dict)  # key -> why
    kept: int = 0


def _video_id(key: str) -> str | None:
    return repo.video_id_for_raw_key(key) or repo.video_id_for_sealed_key(key)


def verdict(obj: ObjectInfo, video: Video | None, *, now: datetime, orphan_cutoff: datetime,
            failed_cutoff: datetime) -> str | None:
    """Why ``obj`` goes, or None when it stays. Plain values in: the caller holds the row lock when it acts
    on a ``failed`` verdict, the only one whose grounds a re-run could change."""
    if video is None:
        # An upload URL is only handed out once its video is committed, so an object of no video is a
        # registration rolled back, or not ours (kept a day in case it is someone's work in progress).
        return "orphan" if obj.last_modified < orphan_cutoff else None
    if video.deleted_at is not None:
        return "deleted"
    if obj.key == video.raw_key:  # what the pipeline reads (before sealing: an upload key, also legacy videos)
        if video.state == VideoState.FAILED and video.updated_at < failed_cutoff:
            return "failed"
        return None
    if video.state == VideoState.UPLOADING:
        return None  # the upload in progress, or the sealed copy of a complete that rolled back (redone next time)
    # The video moved on and reads another key: a PUT through the old URL after complete, or a stale copy.
    return "stray"


def sweep_raw(settings: Settings, *, retention_s: float | None = None, orphan_age_s: float | None = None,
              now: datetime | None = None) -> RawReport:
    """Delete what the raw bucket no longer needs (see the module doc); what was deleted, and why."""
    now = now or datetime.now(UTC)
    failed_cutoff = now - timedelta(seconds=settings.raw_retention_s if retention_s is None else retention_s)
    orphan_cutoff = now - timedelta(seconds=settings.upload_abandon_after_s if orphan_age_s is None
                                    else orphan_age_s)
    store = origin_store(settings)
    objects = [o for prefix in PREFIXES for o in store.list_objects(settings.raw_bucket, prefix)
               if _video_id(o.key)]
    report = RawReport()
    with session_scope(sessions(settings)) as s:
        videos = repo.videos_by_id(s, {_video_id(o.key) for o in objects})
        s.expunge_all()
    for obj in objects:
        video = videos.get(_video_id(obj.key) or "")
        why = verdict(obj, video, now=now, orphan_cutoff=orphan_cutoff, failed_cutoff=failed_cutoff)
        if why == "failed" and video is not None:
            # Locked and judged again: a re-run's first step (which takes this lock) may have moved it on.
            with session_scope(sessions(settings)) as s:
                fresh = repo.get_video(s, video.id, for_update=True)
                why = verdict(obj, fresh, now=now, orphan_cutoff=orphan_cutoff, failed_cutoff=failed_cutoff)
                if why:
                    store.delete(settings.raw_bucket, obj.key)
        elif why:
            store.delete(settings.raw_bucket, obj.key)
        if why:
            report.deleted[obj.key] = why
        else:
            report.kept += 1
    if report.deleted:
        log.info("deleted %d raw objects: %s", len(report.deleted), report.deleted)
    return report
