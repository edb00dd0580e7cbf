"""Operations for content teams and operators: re-runs, failed videos, superseded publications, and a
snapshot of the pipeline for ``reelflow status`` and the API's ``/metrics``.

Library functions over the catalog, the origin and Airflow's REST API; the CLI and the DAGs are thin
shells over them. Re-ladder batches have a module of their own, :mod:`jobs.reladder`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adapters.airflow_api import AirflowClient
from catalog import video_events
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Video, VideoState
from catalog.pipeline_stats import PipelineSnapshot, pipeline_snapshot  # noqa: F401 - re-exported
from config.clients import origin_store, sessions
from config.settings import Settings
from jobs.ingest import publication_id, staging_bucket
from jobs.pipeline import INGEST_DAG
from jobs.staging import STAGING_ROOT
from media.codecs import parse_codecs

log = logging.getLogger("jobs.operations")
# Failures a plain retry can fix; the others are the creator's file (not_media, too_long, duplicate, ...).
RETRYABLE = ("processing_error", "missing_upload")


@dataclass(frozen=True)
class VideoRow:
    id: str
    state: str
    failure_code: str | None
    failure_reason: str | None
    created_at: datetime | None
    updated: datetime | None  # ready_at, else processing start, else creation
    codecs: tuple[str, ...] = ()


def _row(v: Video) -> VideoRow:
    codecs = tuple(sorted({r.name.split("-", 1)[0] for r in v.renditions if r.kind == "video"}))
    return VideoRow(v.id, str(v.state), v.failure_code, v.failure_reason, v.created_at,
                    v.ready_at or v.processing_started_at or v.created_at, codecs)


def list_videos(settings: Settings, *, state: str | None = None, code: str | None = None,
                limit: int = 100) -> list[VideoRow]:
    """Videos newest first. ``state="failed"`` also lists ready videos whose last re-run failed
    (they still serve their previous publication)."""
    with session_scope(sessions(settings)) as s:
        stmt = select(Video).where(Video.deleted_at.is_(None)).order_by(Video.created_at.desc()).limit(limit)
        if state == "failed":
            stmt = stmt.where((Video.state == VideoState.FAILED) | Video.failure_code.is_not(None))
        elif state:
            stmt = stmt.where(Video.state == state)
        if code:
            stmt = stmt.where(Video.failure_code == code)
        return [_row(v) for v in s.scalars(stmt)]


def trigger_reprocess(client: AirflowClient, video_id: str, codecs: list[str] | None = None,
                      *, prefix: str = "reprocess") -> str:
    """Trigger ``ingest_video`` for one video with conf; the run id (visible in the Airflow UI)."""
    conf: dict[str, object] = {"video_id": video_id}
    if codecs:  # refused here, by name, rather than by the run's first task
        conf["codecs"] = [c.value for c in parse_codecs(codecs)]
    return client.trigger(INGEST_DAG, conf, run_id_prefix=prefix)


def retry_failed(settings: Settings, client: AirflowClient, *, codes: tuple[str, ...] = RETRYABLE,
                 dry_run: bool = False, limit: int = 1000) -> list[tuple[str, str]]:
    """Re-trigger every failed video whose failure code is in ``codes``; [(video id, run id or "")]."""
    targets = [v for v in list_videos(settings, state="failed", limit=limit) if v.failure_code in codes]
    return [(v.id, "" if dry_run else trigger_reprocess(client, v.id, prefix="retry")) for v in targets]


# -- superseded and orphaned publications -------------------------------------------------------------

@dataclass
class CollectReport:
    deleted: dict[str, int] = field(default_factory=dict)  # prefix -> objects removed
    kept_in_grace: list[str] = field(default_factory=list)
    kept_running: list[str] = field(default_factory=list)  # no catalog row points to it, but its run may be live


def collect_superseded(settings: Settings, *, grace_s: float | None = None, lookback_days: int = 30,
                       now: datetime | None = None) -> CollectReport:
    """Delete publications no catalog row points to: those of ready videos that a re-run replaced, and those
    of runs that ended without switching to theirs (a publish that failed after its last retry, a re-run
    that failed or was superseded), once ``grace_s`` has passed since the switch, the run's end and the
    publication's newest object.

    A video's current publication (``publish_prefix``: served, or kept by a failed video for a re-run) is
    never a candidate. An unpointed one is deleted only when its run is known to be over: the catalog
    recorded the run's end (a ready, rejected or failed event with its run id, whose publication id names
    the prefix), or the video is ready on another one (the superseded case). A prefix of a run that may still
    be live is kept (``kept_running``); so a run still writing, or one whose tasks an operator clears and
    re-runs, never loses its files under it.

    The CDN is not purged: the old keys are immutable and nothing references them after the switch,
    so cached copies only serve players that loaded the old master, and age out; purging the video
    (the edge purges per video) would also evict the live publication and cost refetches.
    """
    grace = timedelta(seconds=settings.superseded_grace_s if grace_s is None else grace_s)
    now = now or datetime.now(UTC)
    since = now - timedelta(days=lookback_days) - grace
    store = origin_store(settings)
    report = CollectReport()
    with session_scope(sessions(settings)) as s:
        candidates = video_events.videos_with_terminal_events(s, since) | set(s.scalars(select(Video.id).where(
            Video.state == VideoState.READY, Video.publish_prefix.is_not(None), Video.ready_at >= since)))
        ended = video_events.ended_runs(s, candidates)
        rows = s.execute(select(Video.id, Video.publish_prefix, Video.state, Video.ready_at).where(
            Video.id.in_(candidates), Video.deleted_at.is_(None))).all() if candidates else []
    buckets = [settings.vod_bucket]
    if store.client.bucket_exists(settings.cold_bucket):  # a publication frozen before its re-run
        buckets.append(settings.cold_bucket)
    for video_id, current, state, ready_at in rows:
        # The publication id of each run the catalog saw end, and when it ended.
        over = {publication_id(run): at for run, at in ended.get(video_id, {}).items()}
        for bucket in buckets:
            for obj in store.client.list_objects(bucket, prefix=f"v/{video_id}/"):
                prefix = obj.object_name.rstrip("/")
                if prefix == current:
                    continue
                ended_at = over.get(prefix.rsplit("/", 1)[-1])
                if ended_at is None and state != VideoState.READY:
                    report.kept_running.append(prefix)
                    continue
                newest = max((o.last_modified for o in store.client.list_objects(
                    bucket, prefix=prefix + "/", recursive=True)), default=None)
                # In grace: just switched away from, just ended, or still being written (a run's other tasks
                # may finish their uploads after the failure that ended it).
                if any(t is not None and now - t < grace for t in (ready_at, ended_at, newest)):
                    report.kept_in_grace.append(prefix)
                    continue
                report.deleted[prefix] = report.deleted.get(prefix, 0) + store.delete_prefix(bucket, prefix + "/")
    return report


def collect_stale_staging(settings: Settings, *, max_age_s: float | None = None,
                          now: datetime | None = None) -> dict[str, int]:
    """Delete ingest staging (``staging/<video>/<publication>/``) untouched for ``max_age_s``; {prefix: objects}.

    A run's ``cleanup`` teardown deletes its own staging; this catches runs whose cleanup never ran
    (a worker lost, the teardown failed). Age, not the catalog, decides: each step uploads its outputs
    when it ends, so a live run's newest staged file is as old as its last finished step (minutes, or
    hours for a run queued behind the GPU), far below the default 2 days.
    """
    max_age = timedelta(seconds=settings.staging_max_age_s if max_age_s is None else max_age_s)
    now = now or datetime.now(UTC)
    store = origin_store(settings)
    bucket = staging_bucket(settings)
    if not store.client.bucket_exists(bucket):
        return {}
    newest: dict[str, datetime] = {}
    for obj in store.client.list_objects(bucket, prefix=f"{STAGING_ROOT}/", recursive=True):
        parts = obj.object_name.split("/")
        if len(parts) < 4:  # not staging/<video>/<publication>/<file>: not ours to judge
            continue
        prefix = "/".join(parts[:3]) + "/"
        newest[prefix] = max(newest.get(prefix, obj.last_modified), obj.last_modified)
    return {prefix: store.delete_prefix(bucket, prefix) for prefix, when in sorted(newest.items())
            if now - when > max_age}


# The pipeline snapshot lives in catalog.pipeline_stats (the API's /metrics reads it too).


def failures_by_code(rows: list[VideoRow]) -> Counter:
    return Counter(r.failure_code or "unknown" for r in rows)


def get_video_row(settings: Settings, video_id: str) -> VideoRow:
    with session_scope(sessions(settings)) as s:
        return _row(repo.get_video(s, video_id))
