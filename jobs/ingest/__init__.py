"""Ingest: one uploaded video from the raw bucket to a published HLS package.

The public face of the package; its modules hold one concept each:
``run`` (:class:`IngestRun`, the run as a value), ``results`` (what the steps hand each other),
``steps`` (the steps themselves) and ``inline`` (all steps in one process, without Airflow).
"""

from jobs.ingest import steps
from jobs.ingest.inline import run_inline
from jobs.ingest.results import (
    Dedup,
    Embedding,
    EncodeJob,
    EncodePlan,
    Package,
    Publication,
    Renditions,
    Source,
    Thumbnails,
    renditions_from_json,
    renditions_to_json,
)
from jobs.ingest.run import IngestRun, SupersededRun, UploadRejected, publication_id, staging_bucket
from jobs.ingest.steps import (
    GPU_POOL,
    PLAYABLE_MASTER,
    PLAYABLE_STEP,
    begin,
    cleanup,
    codecs_for_run,
    dedup,
    embed,
    mark_error,
    mark_playable,
    mark_ready,
    package,
    plan_encodes,
    publish,
    release,
    release_playable,
    split_by_device,
    thumbnails,
    transcode,
    transcode_audio,
    transcode_playable,
    validate,
)

__all__ = [
    "GPU_POOL", "PLAYABLE_MASTER", "PLAYABLE_STEP", "Dedup", "Embedding", "EncodeJob", "EncodePlan", "IngestRun",
    "Package", "Publication", "Renditions", "Source", "SupersededRun", "Thumbnails", "UploadRejected", "begin",
    "cleanup", "codecs_for_run", "dedup", "embed", "mark_error", "mark_playable", "mark_ready", "package",
    "plan_encodes", "publication_id", "publish", "release", "release_playable", "renditions_from_json",
    "renditions_to_json", "run_inline", "split_by_device", "staging_bucket", "steps", "thumbnails", "transcode",
    "transcode_audio", "transcode_playable", "validate",
]
