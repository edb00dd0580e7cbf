"""Re-ladder batches: re-process many ready videos through ``ingest_video``, a bounded window at a time.

A batch selects ready videos (:class:`LadderFilter`) and cuts them into chunks (one grid cell each). For
every video it triggers one ``ingest_video`` run with the run id ``reladder:<batch>:<video>``, so each
video gets what an upload gets: a task per codec, the GPU queue and staging between hosts. At most
``max_in_flight`` of the batch's runs are queued or running at once, and none is started while other
``ingest_video`` runs are queued: the batch shares the DAG (and its ``max_active_runs``) with creators'
uploads, and only fills the capacity they leave idle.

The run id is the idempotency key. Re-checking a chunk (a retry, a cleared task, a new batch run with the
same ``batch``) finds the runs it already started instead of starting them again, and the catalog filter
leaves out videos the batch already switched. Each video keeps serving its current publication until its
new one is switched in.

:func:`plan_chunk` is the decision, a pure function of the runs' states and the catalog's;
:func:`advance_chunk` reads both, starts what the plan says and returns it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.db import session_scope
from catalog.models import Rendition, Video, VideoState
from config import clients
from config.settings import Settings
from jobs.pipeline import INGEST_DAG
from media.codecs import parse_codecs

if TYPE_CHECKING:
    from adapters.airflow_api import AirflowClient

RELADDER_DAG = "reladder_catalog"
# What a batch name may hold: it becomes part of Airflow run ids (no ":", the run id's own separator).
BATCH_NAME_PATTERN = r"^[A-Za-z0-9_.~+-]+$"
ACTIVE_RUN_STATES = ("queued", "running")  # Airflow DAG run states that hold a place in the window
FINISHED_RUN_STATES = ("success", "failed")
ALREADY_DONE = "already done"


@dataclass(frozen=True)
class LadderFilter:
    created_after: datetime | None = None
    created_before: datetime | None = None
    creator: str | None = None
    missing_codec: str | None = None  # videos with no rendition of this codec (h264, hevc, av1)
    batch: str | None = None  # skip videos this batch already re-processed (resume)

    @classmethod
    def from_params(cls, params: Mapping, batch: str | None) -> LadderFilter:
        def when(v: object) -> datetime | None:
            if not v:
                return None
            d = datetime.fromisoformat(str(v))
            return d if d.tzinfo else d.replace(tzinfo=UTC)
        return cls(when(params.get("created_after")), when(params.get("created_before")),
                   params.get("creator") or None, params.get("missing_codec") or None, batch)


def batch_run_prefix(batch: str) -> str:
    return f"reladder:{batch}:"


def batch_run_id(batch: str, video_id: str) -> str:
    """The ingest run id a batch gives a video; its prefix marks the video as done by the batch."""
    return f"{batch_run_prefix(batch)}{video_id}"


def matching_videos(settings: Settings, flt: LadderFilter) -> list[str]:
    """Ready videos the filter selects, oldest first, leaving out those the batch already did."""
    with session_scope(clients.sessions(settings)) as s:
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
            stmt = stmt.where(func.coalesce(Video.pipeline_run_id, "").not_like(f"{batch_run_prefix(flt.batch)}%"))
        return list(s.scalars(stmt.order_by(Video.created_at, Video.id)))


def chunks(ids: list[str], size: int) -> list[list[str]]:
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [ids[i:i + size] for i in range(0, len(ids), size)]


@dataclass(frozen=True)
class VideoStatus:
    """What the catalog says about one video of a chunk."""
    state: str
    pipeline_run_id: str | None
    failure_code: str | None = None
    failure_reason: str | None = None
    deleted: bool = False


@dataclass
class ChunkStep:
    """One look at a chunk: what to start now, what is still going, and how the finished videos ended."""
    start: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # queued, running, or waiting for room in the window
    outcomes: dict[str, str] = field(default_factory=dict)  # video id -> outcome, for finished videos

    @property
    def done(self) -> bool:
        return not self.start and not self.waiting


def succeeded(outcome: str) -> bool:
    """The batch re-processed the video (or had already): its new publication is switched in."""
    return outcome == ALREADY_DONE or outcome.startswith("ready")


def outcome(status: VideoStatus | None, run_id: str, run_state: str) -> str:
    """How a finished ingest run left its video, in words for the batch's summary."""
    if status is None or status.deleted:
        return "deleted"
    if status.pipeline_run_id != run_id:  # a later run (a re-run, another batch) owns the video now
        return f"superseded by run {status.pipeline_run_id}"
    if status.failure_code:  # the old publication keeps serving; `reelflow retry` re-runs processing errors
        return f"failed: {status.failure_code}: {status.failure_reason}"
    if status.state != VideoState.READY:
        return f"failed: the run ended {run_state} with the video {status.state}"
    if run_state == "failed":  # only steps after the switch (the content embedding) fail without a code
        return "ready (the run failed after the switch: no new content embedding)"
    return "ready"


def plan_chunk(batch: str, video_ids: Sequence[str], runs: Mapping[str, str],
               catalog: Mapping[str, VideoStatus], *, max_in_flight: int, others_queued: int = 0) -> ChunkStep:
    """Which of the chunk's videos to start now, given the states of the batch's runs so far (``runs``:
    run id -> Airflow state, every chunk's) and the catalog. Starts only while fewer than ``max_in_flight``
    of the batch's runs are queued or running, and none while other ``ingest_video`` runs (uploads, re-runs)
    are queued: the batch fills idle capacity and never lines up ahead of a waiting upload."""
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
    in_flight = sum(state in ACTIVE_RUN_STATES for state in runs.values())
    if others_queued > 0:
        in_flight = max_in_flight  # no room while others wait
    step = ChunkStep()
    for vid in video_ids:
        run_id, status = batch_run_id(batch, vid), catalog.get(vid)
        state = runs.get(run_id)
        if state in FINISHED_RUN_STATES:
            step.outcomes[vid] = outcome(status, run_id, state)
        elif state is not None:
            step.waiting.append(vid)
        elif status is None or status.deleted:
            step.outcomes[vid] = "deleted"
        elif status.pipeline_run_id == run_id and status.state == VideoState.READY and not status.failure_code:
            step.outcomes[vid] = ALREADY_DONE  # switched by this batch; Airflow no longer lists the run
        elif in_flight < max_in_flight:
            step.start.append(vid)
            in_flight += 1
        else:
            step.waiting.append(vid)
    return step


def catalog_status(session: Session, video_ids: Sequence[str]) -> dict[str, VideoStatus]:
    rows = session.scalars(select(Video).where(Video.id.in_(list(video_ids))))
    return {v.id: VideoStatus(str(v.state), v.pipeline_run_id, v.failure_code, v.failure_reason,
                              v.deleted_at is not None) for v in rows}


def advance_chunk(settings: Settings, batch: str, video_ids: Sequence[str], codecs: list[str] | None, *,
                  max_in_flight: int, client: AirflowClient | None = None) -> ChunkStep:
    """Look at the chunk once: start the ingest runs there is room for, report the finished ones."""
    client = client or clients.airflow_client(settings)
    conf: dict[str, object] = {"codecs": [c.value for c in parse_codecs(codecs)]} if codecs else {}
    # One look per batch at a time (a PostgreSQL advisory lock, held until the triggers are sent): chunks
    # looking at once would each see the same free places and together overfill the window.
    with session_scope(clients.sessions(settings)) as s:
        s.execute(select(func.pg_advisory_xact_lock(_lock_key(batch))))
        runs = client.run_states(INGEST_DAG, batch_run_prefix(batch))
        others_queued = client.count_runs(INGEST_DAG, ("queued",)) - sum(st == "queued" for st in runs.values())
        step = plan_chunk(batch, video_ids, runs, catalog_status(s, video_ids),
                          max_in_flight=max_in_flight, others_queued=others_queued)
        for vid in step.start:
            # False: the run exists already (a retried look started it before); the next look sees its state.
            client.trigger_run(INGEST_DAG, batch_run_id(batch, vid), {"video_id": vid, **conf})
    return step


def _lock_key(batch: str) -> int:
    """A stable signed 64-bit advisory-lock key for the batch."""
    return int.from_bytes(hashlib.blake2b(f"reladder:{batch}".encode(), digest_size=8).digest(), "big", signed=True)


def summarize(outcomes: Mapping[str, str]) -> tuple[int, dict[str, str]]:
    """(videos re-processed, {video id: outcome} of the others)."""
    failed = {vid: o for vid, o in outcomes.items() if not succeeded(o)}
    return len(outcomes) - len(failed), failed
