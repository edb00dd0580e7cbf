"""The ingest pipeline's steps, each a function of (settings, video id, ...) over the libraries.

DAG tasks call these in one line; tests and the CLI can call them without Airflow. A step that finds
the upload unusable marks the video ``failed`` with the reason and raises :class:`UploadRejected`,
which the DAG turns into "skip the rest" — a creator's bad file is an outcome, not an outage.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.s3 import ObjectNotFound, OriginStore
from catalog import videos as repo
from catalog.db import session_scope
from catalog.embeddings import save_embedding
from catalog.fingerprints import published_fingerprints, save_fingerprint
from config.clients import origin_store, sessions
from config.settings import Settings
from jobs.publish import publish_package
from jobs.staging import (
    PACKAGE_DIR,
    SAMPLES_FILE,
    THUMBS_DIR,
    Staging,
    StagingError,
    package_inputs,
    package_outputs,
    publish_inputs,
    staging_prefix,
    sweep_scratch,
    transcode_outputs,
)
from media.dedup_index import DedupIndex
from media.embedding import MODEL_NAME as EMBEDDING_MODEL
from media.embedding import shared_encoder
from media.encoders import select_encoder
from media.errors import MediaError
from media.ffmpeg_engine import binary_encoders, encode_video_ffmpeg
from media.fingerprint import Fingerprint, file_sha256, fingerprint_samples
from media.ladder import LadderConfig
from media.limits import Limits, check_limits
from media.package import finalize_package, plan_for
from media.probe import SourceInfo, probe
from media.scan import Samples, scan
from media.thumbnails import write_thumbnails
from media.transcode import EncodedRendition, encode_audio, encode_video, rungs_for

log = logging.getLogger("jobs.ingest")


# The Airflow pool NVENC transcodes queue in (`reelflow stack up` creates it with settings.gpu_pool_slots).
GPU_POOL = "gpu_encoders"


class UploadRejected(Exception):
    """The upload cannot become a video; the catalog already says why."""


def limits(settings: Settings) -> Limits:
    return Limits(min_duration_s=settings.min_duration_s, max_duration_s=settings.max_duration_s,
                  max_bytes=settings.max_upload_bytes, min_side=settings.min_side, max_side=settings.max_side,
                  min_fps=settings.min_fps, max_fps=settings.max_fps, max_error_share=settings.max_decode_error_share)


def ladder_config(settings: Settings) -> LadderConfig:
    return LadderConfig(short_sides=tuple(settings.ladder_short_sides), segment_seconds=settings.segment_seconds)


def publication_id(run_id: str) -> str:
    """Stable per pipeline run: a retried publish rewrites the same prefix instead of leaving orphans."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def work_dir(settings: Settings, video_id: str, run_id: str) -> Path:
    return settings.scratch_dir / video_id / publication_id(run_id)


_STAGING_BUCKETS: set[tuple[str, str]] = set()  # (endpoint, bucket) known to exist in this process


def _ensure_staging_bucket(settings: Settings, store: OriginStore, bucket: str) -> None:
    # Like the other buckets, created when missing; checked once per process, not once per step.
    if (settings.s3_endpoint, bucket) not in _STAGING_BUCKETS:
        store.ensure_buckets(bucket)
        _STAGING_BUCKETS.add((settings.s3_endpoint, bucket))


def staging_bucket(settings: Settings) -> str:
    return settings.staging_bucket or settings.raw_bucket


# With S3 staging, local scratch is a cache of what staging and the raw bucket hold: run dirs on this
# machine untouched this long are removed (once per process), since the run's cleanup runs elsewhere.
SCRATCH_MAX_AGE_S = 6 * 3600
_SWEPT: set[Path] = set()


def staging(settings: Settings, video_id: str, run_id: str) -> Staging:
    """The run's work dir and, with ``REELFLOW_STAGING=s3``, its copy that other machines' steps read."""
    root = work_dir(settings, video_id, run_id)
    if settings.staging == "local":
        return Staging(root)
    if settings.scratch_dir not in _SWEPT:
        _SWEPT.add(settings.scratch_dir)
        for stale in sweep_scratch(settings.scratch_dir, SCRATCH_MAX_AGE_S):
            log.info("removed stale scratch %s", stale)
    store = origin_store(settings)
    bucket = staging_bucket(settings)
    _ensure_staging_bucket(settings, store, bucket)
    return Staging(root, store, bucket, staging_prefix(video_id, publication_id(run_id)))


def _reject(settings: Settings, video_id: str, code: str, message: str) -> UploadRejected:
    with session_scope(sessions(settings)) as s:
        video = repo.get_video(s, video_id, for_update=True)
        if video.state == repo.VideoState.READY:
            # A re-run of a published video: the old publication keeps serving; the failure is noted beside it.
            video.failure_code, video.failure_reason = code, f"re-run rejected: {message}"
        else:
            repo.mark_failed(s, video_id, code=code, reason=message)
    log.warning("video %s rejected: %s: %s", video_id, code, message)
    return UploadRejected(f"{code}: {message}")


@contextmanager
def timed(settings: Settings, video_id: str, step: str) -> Iterator[None]:
    """Record how long the step's own work took, so orchestration overhead can be told apart."""
    start = time.perf_counter()
    try:
        yield
    finally:
        with session_scope(sessions(settings)) as s:
            repo.record_step_time(s, video_id, step, time.perf_counter() - start)


def begin(settings: Settings, video_id: str, run_id: str) -> None:
    """Put the video in ``processing`` for this run.

    A ready video (a content team's re-run) stays ``ready`` and keeps serving its current publication
    until ``mark_ready`` switches the catalog to the new one; only the run id and step times change.
    """
    start = time.perf_counter()
    with session_scope(sessions(settings)) as s:
        video = repo.get_video(s, video_id, for_update=True)
        if video.deleted_at is not None:
            raise repo.VideoDeleted(video_id)
        if video.state == repo.VideoState.READY:
            repo.set_pipeline_run(s, video_id, run_id)
            video.step_seconds = {}
            video.failure_code = video.failure_reason = None
        elif video.state == repo.VideoState.PROCESSING:
            repo.set_pipeline_run(s, video_id, run_id)
            video.step_seconds = {}
        else:
            repo.start_processing(s, video_id, run_id=run_id)
        repo.record_step_time(s, video_id, "begin", time.perf_counter() - start)


def fetch_and_validate(settings: Settings, video_id: str, run_id: str) -> dict:
    """Download the raw upload to scratch space and probe it; the source description, JSON-safe."""
    with timed(settings, video_id, "validate"):
        return _fetch_and_validate(settings, video_id, run_id)


def _fetch_and_validate(settings: Settings, video_id: str, run_id: str) -> dict:
    with session_scope(sessions(settings)) as s:
        raw_key = repo.get_video(s, video_id).raw_key
    store = origin_store(settings)
    size = store.stat_size(settings.raw_bucket, raw_key)
    if size is None:
        raise _reject(settings, video_id, "missing_upload", "no uploaded file was found for this video")
    if size > settings.max_upload_bytes:
        raise _reject(settings, video_id, "too_large",
                      f"the file is {size / 2**20:.0f} MiB; the limit is {settings.max_upload_bytes / 2**20:.0f} MiB")
    directory = work_dir(settings, video_id, run_id)
    directory.mkdir(parents=True, exist_ok=True)
    source_path = directory / "source"
    try:
        store.download(settings.raw_bucket, raw_key, source_path)
    except ObjectNotFound as exc:
        raise _reject(settings, video_id, "missing_upload", "no uploaded file was found for this video") from exc
    try:
        info = probe(source_path)
        check_limits(info, limits(settings))
        # The one full decode: integrity, and the frame samples fingerprinting and thumbnails read.
        result = scan(source_path, info, limits(settings))
    except MediaError as exc:
        raise _reject(settings, video_id, exc.code, exc.message) from exc
    result.samples.save(directory / SAMPLES_FILE)
    staging(settings, video_id, run_id).push([SAMPLES_FILE])  # dedup, thumbnails, embed read it
    source = info.as_dict()
    source["scan"] = {"frames": result.frames, "decode_errors": result.errors,
                      "variable_frame_rate": result.variable_frame_rate, "samples": len(result.samples)}
    with session_scope(sessions(settings)) as s:
        repo.record_source(s, video_id, source)
    return source


def dedup(settings: Settings, video_id: str, run_id: str) -> dict:
    """Fingerprint from the scan's samples, store it, and apply the policy to any published original."""
    with timed(settings, video_id, "dedup"):
        samples = _samples_file(settings, video_id, run_id)
        query = fingerprint_samples(Samples.load(samples), file_sha256(_source_file(settings, video_id, run_id)))
        reference = query.reference()
        with session_scope(sessions(settings)) as s:
            save_fingerprint(s, video_id, reference.sha256, reference.times, reference.hashes)
            published = published_fingerprints(s)
        index = DedupIndex()
        for row in published:
            if row.video_id != video_id:
                index.add(row.video_id, Fingerprint(row.sha256, row.times, row.hashes))
        hits = index.lookup(query, exclude=video_id)
        if not hits:
            return {"frames": len(query), "duplicate_of": None}
        original = hits[0]
        how = "an exact copy" if original.match.exact else (
            f"a near-copy ({original.match.matched} of {original.match.considered} sampled frames match, "
            f"median distance {original.match.distance:.0f} bits)")
        if settings.dedup_policy == "reject":
            raise _reject(settings, video_id, "duplicate", f"this upload is {how} of video {original.video_id}")
        with session_scope(sessions(settings)) as s:
            repo.get_video(s, video_id, for_update=True).duplicate_of = original.video_id
        log.info("video %s is %s of %s; linked (policy: link)", video_id, how, original.video_id)
        return {"frames": len(query), "duplicate_of": original.video_id}


def codecs_for_run(settings: Settings, requested: list[str] | None) -> list[str]:
    """The run's codecs: a re-run may ask for its own (``conf={"codecs": [...]}``), else the settings."""
    if not requested:
        return list(settings.codecs)
    return Settings(codecs=requested).codecs  # validated the same way as the setting


def split_by_device(settings: Settings, codecs: list[str]) -> tuple[list[str], list[str]]:
    """(software codecs, NVENC codecs) on this host: the two run in different Airflow pools.

    Opening the encoder decides, as in :func:`media.encoders.select_encoder`, so a GPU without NVENC
    (H100, H200) or a driver that refuses a session sends that codec to the CPU.
    """
    if settings.gpu_queue != "default" and settings.allow_gpu_encoders:  # Celery with GPU workers: declared
        return [c for c in codecs if c not in settings.gpu_codecs], [c for c in codecs if c in settings.gpu_codecs]
    encoders = {codec: select_encoder(codec, allow_gpu=settings.allow_gpu_encoders) for codec in codecs}
    return ([c for c in codecs if not encoders[c].endswith("_nvenc")],
            [c for c in codecs if encoders[c].endswith("_nvenc")])


def _source_file(settings: Settings, video_id: str, run_id: str) -> Path:
    """The upload on this machine. Another worker ran validate: download our own copy from the raw
    bucket (the upload is its own staging), without re-probing and re-scanning it as validate did."""
    source_path = work_dir(settings, video_id, run_id) / "source"
    if source_path.exists():
        return source_path
    with session_scope(sessions(settings)) as s:
        raw_key = repo.get_video(s, video_id).raw_key
    source_path.parent.mkdir(parents=True, exist_ok=True)
    partial = source_path.with_name("source.part")  # a download cut short must not pass for the source
    try:
        origin_store(settings).download(settings.raw_bucket, raw_key, partial)
    except ObjectNotFound as exc:
        raise _reject(settings, video_id, "missing_upload", "no uploaded file was found for this video") from exc
    partial.replace(source_path)
    return source_path


def _samples_file(settings: Settings, video_id: str, run_id: str) -> Path:
    """The scan's frame samples on this machine: from staging if validate ran elsewhere, else by
    running validate again here (``local`` staging on another host, or staging lost)."""
    path = work_dir(settings, video_id, run_id) / SAMPLES_FILE
    if not path.exists() and not staging(settings, video_id, run_id).pull_optional(SAMPLES_FILE):
        fetch_and_validate(settings, video_id, run_id)
    return path


def transcode(settings: Settings, video_id: str, run_id: str, source: dict, codec: str) -> list[dict]:
    """Encode one codec's rungs into the run's package directory; its renditions, JSON-safe."""
    info = SourceInfo.from_dict(source)
    src = _source_file(settings, video_id, run_id)
    plan = plan_for(info, ladder_config(settings))
    package_dir = work_dir(settings, video_id, run_id) / "hls"
    rungs = rungs_for(plan, codec, settings.codec_max_short_side.get(codec))
    encoder = select_encoder(codec, allow_gpu=settings.allow_gpu_encoders)
    with timed(settings, video_id, f"transcode_{codec}"):
        try:
            use_binary = settings.transcode_engine == "ffmpeg" and encoder in binary_encoders()
            if settings.transcode_engine == "ffmpeg" and not use_binary:
                log.warning("the ffmpeg binary cannot encode %s with %s; using the PyAV engine", codec, encoder)
            if use_binary:  # the binary applies the rotation itself
                renditions = encode_video_ffmpeg(src, package_dir, plan, codec, rungs=rungs,
                                                 gpu=encoder.endswith("_nvenc"), preset=settings.x264_preset,
                                                 crf=settings.x264_crf)
            else:
                renditions = encode_video(src, package_dir, plan, codec, rungs=rungs, encoder=encoder,
                                          preset=settings.x264_preset, crf=settings.x264_crf,
                                          rotation=info.rotation, declared_duration_s=info.duration_s)
        except MediaError as exc:
            raise _reject(settings, video_id, exc.code, exc.message) from exc
        result = [r.to_dict() for r in renditions]
        staging(settings, video_id, run_id).push(transcode_outputs(result))  # package may run elsewhere
    return result


def transcode_audio(settings: Settings, video_id: str, run_id: str, source: dict) -> list[dict]:
    info = SourceInfo.from_dict(source)
    src = _source_file(settings, video_id, run_id)
    with timed(settings, video_id, "transcode_audio"):
        try:
            renditions = encode_audio(src, work_dir(settings, video_id, run_id) / PACKAGE_DIR,
                                      plan_for(info, ladder_config(settings)))
        except MediaError as exc:
            raise _reject(settings, video_id, exc.code, exc.message) from exc
        result = [r.to_dict() for r in renditions]  # empty for a silent video: nothing to stage
        staging(settings, video_id, run_id).push(transcode_outputs(result))
    return result


def thumbnails(settings: Settings, video_id: str, run_id: str, source: dict) -> dict:
    """Poster (two sizes, JPEG and WebP) and scrub sprite + WebVTT into the package's ``thumbs/``."""
    info = SourceInfo.from_dict(source)
    src = _source_file(settings, video_id, run_id)
    samples = _samples_file(settings, video_id, run_id)
    with timed(settings, video_id, "thumbnails"):
        result = write_thumbnails(src, Samples.load(samples), work_dir(settings, video_id, run_id) / THUMBS_DIR,
                                  rotation=info.rotation)
        staging(settings, video_id, run_id).push([THUMBS_DIR])
    return {"poster": f"thumbs/{result.posters[0]}", "sprite_vtt": f"thumbs/{result.vtt}",
            "poster_time_s": result.poster_time_s}


def embed(settings: Settings, video_id: str, run_id: str) -> dict:
    """The content embedding from the scan's samples, stored in the catalog for this video."""
    path = _samples_file(settings, video_id, run_id)
    with timed(settings, video_id, "embed"):
        samples = Samples.load(path)
        vector = shared_encoder().embed(samples.times, samples.images)
        with session_scope(sessions(settings)) as s:
            save_embedding(s, video_id, EMBEDDING_MODEL, vector)
    return {"model": EMBEDDING_MODEL, "dimension": int(vector.size)}


def package(settings: Settings, video_id: str, run_id: str, source: dict, parts: list[list[dict]]) -> dict:
    """Measure the renditions, write I-frame playlists and the master; what publish needs."""
    with session_scope(sessions(settings)) as s:
        video = repo.get_video(s, video_id)
        rerun_ok = video.state == repo.VideoState.READY and video.failure_code is None
        if video.state != repo.VideoState.PROCESSING and not rerun_ok:  # a parallel step rejected it: publish nothing
            raise UploadRejected(video.failure_reason or f"video {video_id} is {video.state}, not processing")
    if not any(parts):
        raise RuntimeError(f"no renditions reached package for video {video_id}")
    with timed(settings, video_id, "package"):
        stage = staging(settings, video_id, run_id)
        # The transcodes may have run on other machines: fetch their renditions, or name what is missing.
        stage.pull(package_inputs(parts), step=f"package of video {video_id}")
        renditions = [EncodedRendition.from_dict(r) for part in parts for r in part]
        result = finalize_package(work_dir(settings, video_id, run_id) / PACKAGE_DIR,
                                  plan_for(SourceInfo.from_dict(source), ladder_config(settings)), renditions)
        stage.push(package_outputs([r.to_dict() for r in renditions]))  # the master and I-frame playlists
    return {"bytes": result.total_bytes, "segment_seconds": result.plan.segment_seconds,
            "renditions": [vars(r) for r in result.summaries()]}


def publish(settings: Settings, video_id: str, run_id: str, package: dict, thumbs: dict | None = None) -> dict:
    """Upload the package under ``v/<video>/<publication>/``, master last; what mark_ready needs."""
    directory = work_dir(settings, video_id, run_id) / PACKAGE_DIR
    if not package.get("renditions"):
        raise StagingError(f"no finished package for video {video_id}: the transcode and package steps must "
                           "run first")
    # Package, thumbnails and the transcodes may have run on other machines; publish uploads all of them.
    staging(settings, video_id, run_id).pull(publish_inputs(package, thumbs), step=f"publish of video {video_id}")
    prefix = f"v/{video_id}/{publication_id(run_id)}"
    with timed(settings, video_id, "publish"):
        result = publish_package(origin_store(settings), directory, settings.vod_bucket, prefix)
    renditions = [
        repo.RenditionRecord(name=r["name"], kind=r["kind"], codecs=r["codecs"], encoder=r["encoder"],
                             width=r["width"], height=r["height"], bandwidth=r["peak_bps"],
                             average_bandwidth=r["average_bps"], playlist_key=f"{prefix}/{r['playlist']}")
        for r in package["renditions"]
    ]
    return {"prefix": result.prefix, "master_key": result.master_key, "objects": result.objects,
            "bytes": result.bytes, "renditions": [vars(r) for r in renditions],
            "poster_key": f"{prefix}/{thumbs['poster']}" if thumbs else None,
            "sprite_vtt_key": f"{prefix}/{thumbs['sprite_vtt']}" if thumbs else None}


class SupersededRun(UploadRejected):
    """A newer run of the same video began after this one: its publication must not win the switch."""


def mark_ready(settings: Settings, video_id: str, publication: dict, run_id: str | None = None) -> None:
    """Switch the catalog to ``publication``; with ``run_id``, only if that run still owns the video.

    Two re-runs of one video may overlap; the one that began last owns it (``begin`` records its run id),
    so an older run finishing later cannot switch the video back to its older publication.
    """
    start = time.perf_counter()
    with session_scope(sessions(settings)) as s:
        owner = repo.get_video(s, video_id, for_update=True).pipeline_run_id
        if run_id is not None and owner not in (None, run_id):
            raise SupersededRun(f"run {run_id} was superseded by run {owner}; video {video_id} keeps that one")
        repo.mark_ready(s, video_id, publish_prefix=publication["prefix"], master_key=publication["master_key"],
                        renditions=[repo.RenditionRecord(**r) for r in publication["renditions"]],
                        poster_key=publication.get("poster_key"), sprite_vtt_key=publication.get("sprite_vtt_key"))
        repo.record_step_time(s, video_id, "mark_ready", time.perf_counter() - start)


def mark_error(settings: Settings, video_id: str, message: str) -> None:
    """An unexpected pipeline failure (after retries): the video says so instead of hanging in processing."""
    with session_scope(sessions(settings)) as s:
        video = repo.get_video(s, video_id, for_update=True)
        if video.state == repo.VideoState.PROCESSING:
            repo.mark_failed(s, video_id, code="processing_error", reason=message)
        elif video.state == repo.VideoState.READY:  # a failed re-run: the old publication keeps serving
            video.failure_code, video.failure_reason = "processing_error", f"re-run failed: {message}"


def cleanup(settings: Settings, video_id: str, run_id: str) -> None:
    """Remove this machine's work dir and the run's staged copy (other workers' dirs are left to them:
    their next run of the same publication starts from what staging says, and scratch is per host)."""
    shutil.rmtree(work_dir(settings, video_id, run_id), ignore_errors=True)
    try:
        removed = staging(settings, video_id, run_id).drop()
    except Exception:  # noqa: BLE001 - S3 unreachable: publication_gc removes the staged copy later
        # Raising would run the tasks' failure callback, which marks a video this run just published
        # as failed; a leftover staging prefix is only storage until the GC's age limit.
        log.warning("could not remove the staged files of video %s; publication_gc will", video_id, exc_info=True)
        return
    if removed:
        log.info("removed %d staged files of video %s", removed, video_id)


def release(settings: Settings, video_id: str, run_id: str, source: dict, parts: list[list[dict]],
            thumbs: dict | None) -> dict:
    """Package, upload and switch the catalog: the steps after the encodes, which the DAG runs as one task
    (each is a fraction of a second; a task start costs more). The publication it switched to."""
    publication = publish(settings, video_id, run_id, package(settings, video_id, run_id, source, parts), thumbs)
    mark_ready(settings, video_id, publication, run_id)
    return publication


def run_inline(settings: Settings, video_id: str, run_id: str, codecs: list[str] | None = None) -> str:
    """The whole pipeline in this process, step by step, without Airflow (``reelflow reprocess --inline``:
    one video while Airflow is down, or to debug it in one process).

    The same step functions as the DAG's tasks, run one after the other; a rejection is an outcome
    (returned as ``"rejected: ..."``), an unexpected error marks the video as the DAG's callback would.
    """
    # Every step runs here, in one work dir: staging in S3 would only copy files to read them back.
    settings = settings.model_copy(update={"staging": "local"})
    try:
        begin(settings, video_id, run_id)
        source = fetch_and_validate(settings, video_id, run_id)
        dedup(settings, video_id, run_id)
        parts = [transcode(settings, video_id, run_id, source, c) for c in codecs_for_run(settings, codecs)]
        audio = transcode_audio(settings, video_id, run_id, source)
        thumbs = thumbnails(settings, video_id, run_id, source)
        release(settings, video_id, run_id, source, [*parts, audio], thumbs)
        try:  # as in the DAG, the embedding is not on the path to ready: without one the video still is
            embed(settings, video_id, run_id)
        except Exception:  # noqa: BLE001 - logged; only the content-similar source misses the video
            log.warning("no content embedding for video %s; it is served without one", video_id, exc_info=True)
        return "ready"
    except UploadRejected as exc:
        return f"rejected: {exc}"
    except Exception as exc:
        mark_error(settings, video_id, f"processing failed inline ({exc!s:.200})")
        raise
    finally:
        cleanup(settings, video_id, run_id)
