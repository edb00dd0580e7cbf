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
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Video, VideoState
from catalog.pipeline_stats import PipelineSnapshot, pipeline_snapshot  # noqa: F401 - re-exported
from config.clients import origin_store, sessions
from config.settings import Settings
from jobs.ingest import staging_bucket
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


# -- superseded publications -------------------------------------------------------------------------

@dataclass
class CollectReport:
    deleted: dict[str, int] = field(default_factory=dict)  # prefix -> objects removed
    kept_in_grace: list[str] = field(default_factory=list)


def collect_superseded(settings: Settings, *, grace_s: float | None = None, lookback_days: int = 30,
                       now: datetime | None = None) -> CollectReport:
    """Delete publications of ready videos that a re-run replaced more than ``grace_s`` ago.

    The CDN is not purged: the old keys are immutable and nothing references them after the switch,
    so cached copies only serve players that loaded the old master, and age out; purging the video
    (the edge purges per video) would also evict the live publication and cost refetches.
    """
    grace = timedelta(seconds=settings.superseded_grace_s if grace_s is None else grace_s)
    now = now or datetime.now(UTC)
    store = origin_store(settings)
    report = CollectReport()
    with session_scope(sessions(settings)) as s:
        rows = s.execute(select(Video.id, Video.publish_prefix, Video.ready_at).where(
            Video.state == VideoState.READY, Video.deleted_at.is_(None), Video.publish_prefix.is_not(None),
            Video.ready_at >= now - timedelta(days=lookback_days) - grace)).all()
    buckets = [settings.vod_bucket]
    if store.client.bucket_exists(settings.cold_bucket):  # a publication frozen before its re-run
        buckets.append(settings.cold_bucket)
    for video_id, current, ready_at in rows:
        for bucket in buckets:
            for obj in store.client.list_objects(bucket, prefix=f"v/{video_id}/"):
                prefix = obj.object_name.rstrip("/")
                if prefix == current:
                    continue
                newest = max((o.last_modified for o in store.client.list_objects(
                    bucket, prefix=prefix + "/", recursive=True)), default=None)
                # In grace: just switched away from, or still being written by a run that has not switched yet.
                if now - ready_at < grace or (newest is not None and now - newest < grace):
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
