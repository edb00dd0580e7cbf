"""One ingest run as a value: which video, which pipeline run, and everything derived from the two.

Every step takes an :class:`IngestRun` instead of ``(settings, video_id, run_id)``: the publication id,
the work dir, the staging area, the catalog's session factory and the origin client are worked out once
here, and each step's process builds one run from its DAG context.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from adapters.s3 import ObjectNotFound, OriginStore
from catalog import video_events
from catalog import videos as repo
from catalog.db import session_scope
from catalog.video_events import EventKind
from config.clients import origin_store, sessions
from config.settings import Settings
from jobs.staging import SAMPLES_FILE, Staging, staging_prefix, sweep_scratch

log = logging.getLogger("jobs.ingest")

# With S3 staging, local scratch is a cache of what staging and the raw bucket hold: run dirs on this
# machine untouched this long are removed (once per process), since the run's cleanup runs elsewhere.
SCRATCH_MAX_AGE_S = 6 * 3600
_SWEPT: set[Path] = set()
_STAGING_BUCKETS: set[tuple[str, str]] = set()  # (endpoint, bucket) known to exist in this process


class UploadRejected(Exception):
    """The upload cannot become a video; the catalog already says why."""


class SupersededRun(UploadRejected):
    """A newer run of the same video began after this one: its publication must not win the switch."""


def publication_id(run_id: str) -> str:
    """Stable per pipeline run: a retried publish rewrites the same prefix instead of leaving orphans."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def staging_bucket(settings: Settings) -> str:
    return settings.staging_bucket or settings.raw_bucket


@dataclass(frozen=True)
class IngestRun:
    settings: Settings
    video_id: str
    run_id: str

    @cached_property
    def publication_id(self) -> str:
        return publication_id(self.run_id)

    @property
    def prefix(self) -> str:
        """Where this run publishes in the vod bucket."""
        return f"v/{self.video_id}/{self.publication_id}"

    @property
    def work_dir(self) -> Path:
        return self.settings.scratch_dir / self.video_id / self.publication_id

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return sessions(self.settings)

    @cached_property
    def store(self) -> OriginStore:
        return origin_store(self.settings)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.sessions) as s:
            yield s

    @cached_property
    def staging(self) -> Staging:
        """The run's work dir and, with ``REELFLOW_STAGING=s3``, its copy that other machines' steps read."""
        root = self.work_dir
        if self.settings.staging == "local":
            return Staging(root)
        scratch = self.settings.scratch_dir
        if scratch not in _SWEPT:
            _SWEPT.add(scratch)
            for stale in sweep_scratch(scratch, SCRATCH_MAX_AGE_S):
                log.info("removed stale scratch %s", stale)
        bucket = staging_bucket(self.settings)
        # Like the other buckets, created when missing; checked once per process, not once per step.
        if (self.settings.s3_endpoint, bucket) not in _STAGING_BUCKETS:
            self.store.ensure_buckets(bucket)
            _STAGING_BUCKETS.add((self.settings.s3_endpoint, bucket))
        return Staging(root, self.store, bucket, staging_prefix(self.video_id, self.publication_id))

    def reject(self, code: str, message: str) -> UploadRejected:
        """Record why the upload cannot become a video; the exception for the step to raise."""
        with self.session() as s:
            video = repo.get_video(s, self.video_id, for_update=True)
            if video.state == repo.VideoState.READY:
                # A re-run of a published video: the old publication keeps serving; the failure is noted beside it.
                video.failure_code, video.failure_reason = code, f"re-run rejected: {message}"
            elif video.state == repo.VideoState.PLAYABLE:
                # A later step refused what the first ladder played: that keeps serving, the creator is told.
                video.failure_code, video.failure_reason = code, f"the other codecs were refused: {message}"
                video_events.record(s, self.video_id, EventKind.REJECTED,
                                    {"code": code, "reason": video.failure_reason, "still_serving": True},
                                    run_id=self.run_id)
            else:
                repo.mark_failed(s, self.video_id, code=code, reason=message)
        log.warning("video %s rejected: %s: %s", self.video_id, code, message)
        return UploadRejected(f"{code}: {message}")

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record how long the step's own work took, so orchestration overhead can be told apart."""
        start = time.perf_counter()
        try:
            yield
        finally:
            with self.session() as s:
                repo.record_step_time(s, self.video_id, step, time.perf_counter() - start)

    @cached_property
    def raw_key(self) -> str:
        """The upload's key in the raw bucket (fixed when the video was created): read once per run."""
        with self.session() as s:
            return repo.get_video(s, self.video_id).raw_key

    def download_source(self, path: Path) -> None:
        """The raw upload to ``path`` (via a ``.part`` name: a download cut short must not pass for it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: two downloads at once (threads of one task) must not write one file.
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
        try:
            self.store.download(self.settings.raw_bucket, self.raw_key, partial)
            partial.replace(path)
        except ObjectNotFound as exc:
            raise self.reject("missing_upload", "no uploaded file was found for this video") from exc
        finally:
            partial.unlink(missing_ok=True)  # a download cut short leaves nothing behind

    def source_file(self) -> Path:
        """The upload on this machine. Another worker ran validate: download our own copy from the raw
        bucket (the upload is its own staging), without re-probing and re-scanning it as validate did."""
        path = self.work_dir / "source"
        if not path.exists():
            self.download_source(path)
        return path

    def samples_file(self) -> Path | None:
        """The scan's frame samples on this machine (fetched from staging if validate ran elsewhere), or
        None when neither has them (``local`` staging on another host, or staging lost)."""
        path = self.work_dir / SAMPLES_FILE
        if path.exists() or self.staging.pull_optional(SAMPLES_FILE):
            return path
        return None
