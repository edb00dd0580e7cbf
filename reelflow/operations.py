"""Operations for content teams and operators: re-runs, failed videos, re-ladder batches, superseded
publications, and a snapshot of the pipeline for ``reelflow status`` and the API's ``/metrics``.

Library functions over the catalog, the origin and Airflow's REST API; the CLI and the DAGs are thin
shells over them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Rendition, Video, VideoState
from catalog.pipeline_stats import PipelineSnapshot, pipeline_snapshot  # noqa: F401 - re-exported
from feed_api.airflow_client import AirflowClient
from reelflow.clients import origin_store, sessions
from reelflow.ingest import staging_bucket
from reelflow.settings import Settings
from reelflow.staging import STAGING_ROOT

log = logging.getLogger("reelflow.operations")
INGEST_DAG = "ingest_video"
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
    if codecs:
        conf["codecs"] = codecs
    return client.trigger(INGEST_DAG, conf, run_id_prefix=prefix)


def retry_failed(settings: Settings, client: AirflowClient, *, codes: tuple[str, ...] = RETRYABLE,
                 dry_run: bool = False, limit: int = 1000) -> list[tuple[str, str]]:
    """Re-trigger every failed video whose failure code is in ``codes``; [(video id, run id or "")]."""
    targets = [v for v in list_videos(settings, state="failed", limit=limit) if v.failure_code in codes]
    return [(v.id, "" if dry_run else trigger_reprocess(client, v.id, prefix="retry")) for v in targets]


# -- re-ladder batches -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LadderFilter:
    created_after: datetime | None = None
    created_before: datetime | None = None
    creator: str | None = None
    missing_codec: str | None = None  # videos with no rendition of this codec (h264, hevc, av1)
    batch: str | None = None  # skip videos this batch already re-processed (resume)

    @classmethod
    def from_params(cls, params: dict, batch: str | None) -> LadderFilter:
        def when(v: object) -> datetime | None:
            if not v:
                return None
            d = datetime.fromisoformat(str(v))
            return d if d.tzinfo else d.replace(tzinfo=UTC)
        return cls(when(params.get("created_after")), when(params.get("created_before")),
                   params.get("creator") or None, params.get("missing_codec") or None, batch)


def batch_run_id(batch: str, video_id: str) -> str:
    """The pipeline run id a batch gives a video; its prefix marks the video as done by the batch."""
    return f"reladder:{batch}:{video_id}"


def matching_videos(settings: Settings, flt: LadderFilter) -> list[str]:
    """Ready videos the filter selects, oldest first, leaving out those the batch already did."""
    with session_scope(sessions(settings)) as s:
        stmt = select(Video.id).where(Video.state == VideoState.READY, Video.deleted_at.is_(None))
        if flt.created_after:
            stmt = stmt.where(Video.created_at >= flt.created_after)
        if flt.created_before:
            stmt = stmt.where(Video.created_at < flt.created_before)
        if flt.creator:
            stmt = stmt.where(Video.creator_id == flt.creator)
        if flt.missing_codec:
            has = select(Rendition.video_id).where(Rendition.kind == "video",
                                                   Rendition.name.like(f"{flt.missing_codec}-%"))
            stmt = stmt.where(Video.id.not_in(has))
        if flt.batch:
            done = f"reladder:{flt.batch}:%"
            stmt = stmt.where(func.coalesce(Video.pipeline_run_id, "").not_like(done))
        return list(s.scalars(stmt.order_by(Video.created_at, Video.id)))


def chunks(ids: list[str], size: int) -> list[list[str]]:
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def reladder_chunk(settings: Settings, batch: str, video_ids: list[str], codecs: list[str] | None) -> dict:
    """Re-process each video of a chunk in this process; {video id: outcome}. A video that fails does
    not stop the chunk: its outcome says why, and ``reelflow videos --state failed`` lists it."""
    from reelflow.ingest import run_inline

    outcomes: dict[str, str] = {}
    for vid in video_ids:
        with session_scope(sessions(settings)) as s:
            v = repo.get_video(s, vid)
            done = v.pipeline_run_id == batch_run_id(batch, vid) and v.state == VideoState.READY \
                and v.failure_code is None
        if done:  # a resumed chunk: this video was re-processed by the batch before it stopped
            outcomes[vid] = "already done"
            continue
        try:
            outcomes[vid] = run_inline(settings, vid, batch_run_id(batch, vid), codecs)
        except Exception as exc:  # noqa: BLE001 - recorded per video; the batch goes on
            log.exception("re-ladder of %s failed", vid)
            outcomes[vid] = f"error: {type(exc).__name__}: {exc!s:.200}"
    return outcomes


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
