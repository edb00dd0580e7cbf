"""The ingest pipeline's steps, each a function of an :class:`~jobs.ingest.run.IngestRun` over the libraries.

DAG tasks call these in a line; tests and the CLI call them without Airflow. A step that finds the upload
unusable marks the video ``failed`` with the reason and raises :class:`UploadRejected`, which the DAG
turns into "skip the rest": a creator's bad file is an outcome, not an outage.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from catalog import moderation, prohibited_media, search, sounds, video_events
from catalog import videos as repo
from catalog.embeddings import save_embedding
from catalog.fingerprints import published_fingerprints, save_fingerprint
from catalog.models import SERVABLE_STATES
from catalog.video_events import EventKind
from config.settings import Settings
from jobs.ingest.results import (
    Dedup,
    Embedding,
    EncodeJob,
    EncodePlan,
    Package,
    Publication,
    Renditions,
    ScanStats,
    Source,
    Thumbnails,
)
from jobs.ingest.run import IngestRun, SupersededRun, UploadRejected
from jobs.publish import publish_package
from jobs.staging import (
    PACKAGE_DIR,
    SAMPLES_FILE,
    THUMBS_DIR,
    StagingError,
    package_inputs,
    package_outputs,
    publish_inputs,
    transcode_outputs,
)
from media.audio_fingerprint import fingerprint_file as audio_fingerprint
from media.codecs import Codec, parse_codecs
from media.content_screen import screen
from media.dedup_index import DedupIndex
from media.embedding import MODEL_NAME as EMBEDDING_MODEL
from media.embedding import shared_encoder
from media.encoders import NVENC, SOFTWARE, encoder_opens, is_gpu_encoder, select_encoder
from media.errors import MediaError
from media.ffmpeg_engine import binary_encoders, encode_video_ffmpeg
from media.fingerprint import Fingerprint, fingerprint_samples
from media.frames import file_sha256
from media.limits import check_limits
from media.package import MASTER_NAME, finalize_package, plan_for
from media.probe import SourceInfo, probe
from media.scan import Samples, scan
from media.sound_clip import CLIP_NAME, SoundClip, clip_duration_s, write_sound_clip
from media.thumbnails import write_thumbnails
from media.transcode import encode_audio, encode_video, rungs_for

log = logging.getLogger("jobs.ingest")

# The Airflow pool NVENC transcodes queue in (`reelflow stack up` creates it with settings.gpu_pool_slots).
GPU_POOL = "gpu_encoders"
# The master of the playable stage, beside the full ladder's ``master.m3u8`` under the same prefix.
PLAYABLE_MASTER = "playable.m3u8"
# The original sound's clip, beside the ladder in the package (published as ``<prefix>/sound/clip.m4a``).
SOUND_DIR = f"{PACKAGE_DIR}/sound"
# How the playable stage's steps are named in ``step_seconds`` (its transcode, package, publish, mark).
PLAYABLE_STEP = "playable_"


def begin(run: IngestRun) -> None:
    """Put the video in ``processing`` for this run.

    A ready video (a content team's re-run) stays ``ready`` and keeps serving its current publication
    until ``mark_ready`` switches the catalog to the new one; only the run id and step times change.
    """
    start = time.perf_counter()
    with run.session() as s:
        video = repo.get_video(s, run.video_id, for_update=True)
        if video.deleted_at is not None:
            raise repo.VideoDeleted(run.video_id)
        if video.state in SERVABLE_STATES:  # keeps serving what it has until this run's full switch
            repo.set_pipeline_run(s, run.video_id, run.run_id)
            video.step_seconds = {}
            video.failure_code = video.failure_reason = None
            video_events.record(s, run.video_id, EventKind.PROCESSING, {"rerun": True}, run_id=run.run_id)
        elif video.state == repo.VideoState.PROCESSING:
            repo.set_pipeline_run(s, run.video_id, run.run_id)
            video.step_seconds = {}
        else:
            repo.start_processing(s, run.video_id, run_id=run.run_id)
        repo.record_step_time(s, run.video_id, "begin", time.perf_counter() - start)


def validate(run: IngestRun) -> Source:
    """Download the raw upload to the work dir, probe it, check the limits and scan it once."""
    with run.timed("validate"):
        return _validate(run)


def _validate(run: IngestRun) -> Source:
    settings = run.settings
    size = run.store.stat_size(settings.raw_bucket, run.raw_key)
    if size is None:
        raise run.reject("missing_upload", "no uploaded file was found for this video")
    if size > settings.max_upload_bytes:
        raise run.reject("too_large", f"the file is {size / 2**20:.0f} MiB; "
                                      f"the limit is {settings.max_upload_bytes / 2**20:.0f} MiB")
    source_path = run.work_dir / "source"
    run.download_source(source_path)
    try:
        info = probe(source_path)
        check_limits(info, settings.upload_limits)
        # The one full decode: integrity, and the frame samples fingerprinting and thumbnails read.
        result = scan(source_path, info, settings.upload_limits)
    except MediaError as exc:
        raise run.reject(exc.code, exc.message) from exc
    result.samples.save(run.work_dir / SAMPLES_FILE)
    run.staging.push([SAMPLES_FILE])  # dedup, thumbnails, embed read it
    source = Source(info, ScanStats(frames=result.frames, decode_errors=result.errors,
                                    variable_frame_rate=result.variable_frame_rate, samples=len(result.samples)))
    with run.session() as s:
        repo.record_source(s, run.video_id, source.to_json())
        video_events.record(s, run.video_id, EventKind.VALIDATED,
                            {"duration_s": info.duration_s, "width": info.display_size[0],
                             "height": info.display_size[1], "audio": info.audio is not None},
                            run_id=run.run_id)
    return source


def _samples(run: IngestRun) -> Samples:
    """The scan's samples; validate runs again here when neither this machine nor staging has them."""
    path = run.samples_file()
    if path is None:
        validate(run)
        path = run.work_dir / SAMPLES_FILE
    return Samples.load(path)


def dedup(run: IngestRun) -> Dedup:
    """Fingerprint from the scan's samples, store it, refuse prohibited media, and apply the dedup policy to
    any published original."""
    with run.timed("dedup"):
        samples = _samples(run)
        source = run.source_file()
        # The soundtrack settles still scenes the picture cannot (a broken or absent track: an empty print).
        sound = audio_fingerprint(source, max_seconds=run.settings.upload_limits.max_duration_s)
        query = fingerprint_samples(samples, file_sha256(source), sound)
        with run.session() as s:
            save_fingerprint(s, run.video_id, query.reference())
            prohibited = prohibited_media.entries(s)
            published = published_fingerprints(s, uploader=repo.get_video(s, run.video_id).creator_id)
        _refuse_prohibited(run, query, prohibited)
        index = DedupIndex()
        for row in published:
            if row.video_id != run.video_id:
                index.add(row.video_id, row.fingerprint)
        hits = index.lookup(query, exclude=run.video_id)
        if not hits:
            return Dedup(frames=len(query), duplicate_of=None)
        original = hits[0]
        how = "an exact copy" if original.match.exact else f"a near-copy ({original.match.explain()})"
        if run.settings.dedup_policy == "reject":
            raise run.reject("duplicate", f"this upload is {how} of video {original.video_id}")
        with run.session() as s:
            repo.get_video(s, run.video_id, for_update=True).duplicate_of = original.video_id
        log.info("video %s is %s of %s; linked (policy: link)", run.video_id, how, original.video_id)
        return Dedup(frames=len(query), duplicate_of=original.video_id)


def _refuse_prohibited(run: IngestRun, query: Fingerprint,
                       prohibited: Sequence[prohibited_media.ProhibitedEntry]) -> None:
    """The prohibited-media list, matched with the dedup engine (so re-encodes, crops and logos are caught
    as for duplicates). The creator is told no more than that: the list and its reasons stay with moderators,
    who find the entry in the log and in the video's failure code."""
    index = DedupIndex()
    for entry in prohibited:
        if entry.fingerprint is not None:  # legacy (pHash) entries wait to be added again
            index.add(f"prohibited:{entry.id}", entry.fingerprint)
    hits = index.lookup(query)
    if hits:
        log.warning("video %s matches prohibited-media entry %s", run.video_id, hits[0].video_id)
        raise run.reject("prohibited", "this upload matches media that is not allowed on Reelflow")


def codecs_for_run(settings: Settings, requested: Iterable[str] | None) -> tuple[Codec, ...]:
    """The run's codecs: a re-run may ask for its own (``conf={"codecs": [...]}``), else the settings."""
    return parse_codecs(requested) if requested else tuple(settings.codecs)


def plan_encodes(settings: Settings, codecs: Sequence[Codec], source: SourceInfo | None = None) -> EncodePlan:
    """The encoder of each codec, chosen once for the run, split by the Airflow pool it encodes in; with the
    source known and H.264 among the codecs, its rungs up to ``playable_max_short_side`` are split off as
    ``first``: the playable stage, encoded alone and published before anything else.

    Opening the encoder decides (:func:`media.encoders.select_encoder`), so a GPU without NVENC (H100,
    H200) or a driver that refuses a session sends that codec to the CPU.
    """
    jobs = [EncodeJob(c, _encoder(settings, c)) for c in codecs]
    first = None
    cap = settings.playable_max_short_side
    h264 = next((j for j in jobs if j.codec == Codec.H264), None)
    if source is not None and cap and h264 is not None:
        rungs = rungs_for(plan_for(source, settings.ladder), Codec.H264, settings.codec_max_short_side.get(Codec.H264))
        early = tuple(r.name for r in rungs if min(r.width, r.height) <= cap) or (rungs[0].name,)
        late = tuple(r.name for r in rungs if r.name not in early)
        # The first rungs encode on this task's own machine: with a declared GPU queue the GPU is elsewhere.
        encoder = SOFTWARE[Codec.H264] if settings.gpu_queue != "default" else h264.encoder
        first = EncodeJob(Codec.H264, encoder, early if late else None)
        jobs = [j for j in jobs if j is not h264] + ([EncodeJob(Codec.H264, h264.encoder, late)] if late else [])
    return EncodePlan(cpu=tuple(j for j in jobs if not is_gpu_encoder(j.encoder)),
                      gpu=tuple(j for j in jobs if is_gpu_encoder(j.encoder)), first=first)


def _encoder(settings: Settings, codec: Codec) -> str:
    if settings.gpu_queue != "default" and settings.allow_gpu_encoders:
        # Celery with a GPU queue: the plan is made on a CPU worker, so the GPU's codecs are declared.
        return NVENC[codec] if codec in settings.gpu_codecs else SOFTWARE[codec]
    return select_encoder(codec, allow_gpu=settings.allow_gpu_encoders)


def split_by_device(settings: Settings, codecs: Sequence[str]) -> tuple[list[str], list[str]]:
    """(software codecs, NVENC codecs): the plan's two pools, by codec name."""
    plan = plan_encodes(settings, parse_codecs(codecs))
    return [j.codec.value for j in plan.cpu], [j.codec.value for j in plan.gpu]


def transcode(run: IngestRun, source: Source, job: EncodeJob, *, playable: bool = False) -> Renditions:
    """Encode one codec's rungs into the run's package directory with the plan's encoder (``playable``: the
    plan's first rungs, timed as a step of the playable stage)."""
    settings = run.settings
    src = run.source_file()
    plan = plan_for(source.info, settings.ladder)
    rungs = rungs_for(plan, job.codec, settings.codec_max_short_side.get(job.codec))
    if job.rungs is not None:
        rungs = [r for r in rungs if r.name in job.rungs]
    encoder = job.encoder
    if is_gpu_encoder(encoder) and not encoder_opens(encoder):
        # A declared GPU codec on a worker where NVENC does not open after all: software, not a failed run.
        encoder = SOFTWARE[job.codec]
        log.warning("%s does not open on this worker; encoding %s with %s", job.encoder, job.codec, encoder)
    with run.timed(f"{PLAYABLE_STEP}transcode_{job.codec}" if playable else f"transcode_{job.codec}"):
        try:
            use_binary = settings.transcode_engine == "ffmpeg" and encoder in binary_encoders()
            if settings.transcode_engine == "ffmpeg" and not use_binary:
                log.warning("the ffmpeg binary cannot encode %s with %s; using the PyAV engine", job.codec, encoder)
            if use_binary:  # the binary applies the rotation itself
                renditions = encode_video_ffmpeg(src, run.work_dir / PACKAGE_DIR, plan, job.codec, rungs=rungs,
                                                 gpu=is_gpu_encoder(encoder), preset=settings.x264_preset,
                                                 crf=settings.x264_crf)
            else:
                renditions = encode_video(src, run.work_dir / PACKAGE_DIR, plan, job.codec, rungs=rungs,
                                          encoder=encoder, preset=settings.x264_preset, crf=settings.x264_crf,
                                          rotation=source.info.rotation, declared_duration_s=source.info.duration_s)
        except MediaError as exc:
            raise run.reject(exc.code, exc.message) from exc
        run.staging.push(transcode_outputs(renditions))  # package may run elsewhere
    with run.session() as s:
        video_events.record(s, run.video_id, EventKind.CODEC_ENCODED,
                            {"codec": job.codec.value, "encoder": encoder, "rungs": [r.name for r in rungs]},
                            run_id=run.run_id)
    return tuple(renditions)


def transcode_audio(run: IngestRun, source: Source) -> Renditions:
    """The ladder's AAC rendition and, for a video that did not name an existing sound, its original sound's
    clip (the first 60 s as an .m4a, which ``release`` publishes beside the ladder)."""
    src = run.source_file()
    with run.timed("transcode_audio"):
        try:
            renditions = encode_audio(src, run.work_dir / PACKAGE_DIR, plan_for(source.info, run.settings.ladder))
            clip = _sound_clip(run, src) if renditions else None
        except MediaError as exc:
            raise run.reject(exc.code, exc.message) from exc
        # Empty for a silent video: nothing to stage.
        run.staging.push([*transcode_outputs(renditions), *([SOUND_DIR] if clip else [])])
    return tuple(renditions)


def _sound_clip(run: IngestRun, src: Path) -> SoundClip | None:
    """Beside the audio encode (off the path to playable: the first rungs' encode takes longer), so the publish
    step only uploads it. A retried attempt starts from an empty directory."""
    shutil.rmtree(run.work_dir / SOUND_DIR, ignore_errors=True)
    with run.session() as s:
        if not sounds.wants_original(s, run.video_id):
            return None  # the upload named a sound: that one is the video's
    return write_sound_clip(src, run.work_dir / SOUND_DIR / CLIP_NAME)


def transcode_playable(run: IngestRun, source: Source, job: EncodeJob | None) -> tuple[Renditions, Renditions]:
    """The playable stage's encodes: the plan's first H.264 rungs (none without such a stage) and, on a thread
    beside them, the audio. One task instead of two saves a process start and a scheduler round on the path
    to playable; the AAC encode takes little CPU from the video's."""
    run.sessions, run.store, run.staging  # noqa: B018 - derived once, before two threads would race to
    run.source_file()  # on a fresh worker, downloaded once here rather than by both threads at once
    with ThreadPoolExecutor(max_workers=1) as pool:  # a video error waits for the audio thread, then raises
        audio = pool.submit(transcode_audio, run, source)
        first = transcode(run, source, job, playable=True) if job is not None else ()
        return first, audio.result()


def thumbnails(run: IngestRun, source: Source) -> Thumbnails:
    """Poster (two sizes, JPEG and WebP) and scrub sprite + WebVTT into the package's ``thumbs/``."""
    src = run.source_file()
    samples = _samples(run)
    with run.timed("thumbnails"):
        result = write_thumbnails(src, samples, run.work_dir / THUMBS_DIR, rotation=source.info.rotation)
        run.staging.push([THUMBS_DIR])
    return Thumbnails(poster=f"thumbs/{result.posters[0]}", sprite_vtt=f"thumbs/{result.vtt}",
                      poster_time_s=result.poster_time_s)


def embed(run: IngestRun) -> Embedding:
    """The content embedding from the scan's samples, stored in the catalog for this video; and, from the same
    forward pass, the content screen: a video whose frames show a watched ImageNet class (weapons by default)
    is held for review (out of discovery feeds, in the moderators' queue) rather than recommended widely."""
    samples = _samples(run)
    with run.timed("embed"):
        analysis = shared_encoder().analyse(samples.times, samples.images)
        flags = screen(analysis.class_logits, analysis.frame_times, run.settings.screen_policy)
        with run.session() as s:
            save_embedding(s, run.video_id, EMBEDDING_MODEL, analysis.vector)
            held = bool(flags) and moderation.hold_for_review(
                s, run.video_id, check="classifier", reason="dangerous", note="; ".join(f.describe() for f in flags))
    if held:
        log.warning("video %s held for review by the content screen: %s", run.video_id,
                    "; ".join(f.describe() for f in flags))
    return Embedding(model=EMBEDDING_MODEL, dimension=int(analysis.vector.size),
                     screen_flags=tuple(f.describe() for f in flags))


def package(run: IngestRun, source: Source, parts: Sequence[Renditions], *, master: str = MASTER_NAME) -> Package:
    """Measure the renditions, write I-frame playlists and the master (named ``master``); what publish needs."""
    with run.session() as s:
        video = repo.get_video(s, run.video_id)
        rerun_ok = video.state == repo.VideoState.READY and video.failure_code is None
        if video.state not in (repo.VideoState.PROCESSING, repo.VideoState.PLAYABLE) and not rerun_ok:
            # a parallel step rejected it: publish nothing
            raise UploadRejected(video.failure_reason or f"video {run.video_id} is {video.state}, not processing")
    if not any(parts):
        raise RuntimeError(f"no renditions reached package for video {run.video_id}")
    with run.timed(f"{PLAYABLE_STEP}package" if master == PLAYABLE_MASTER else "package"):
        # The transcodes may have run on other machines: fetch their renditions, or name what is missing.
        run.staging.pull(package_inputs(parts), step=f"package of video {run.video_id}")
        renditions = [r for part in parts for r in part]
        result = finalize_package(run.work_dir / PACKAGE_DIR, plan_for(source.info, run.settings.ladder), renditions,
                                  master=master)
        run.staging.push(package_outputs(renditions, master))  # the master and I-frame playlists
    return Package(bytes=result.total_bytes, segment_seconds=result.plan.segment_seconds,
                   renditions=tuple(result.summaries()), master=master)


def publish(run: IngestRun, package: Package, thumbs: Thumbnails | None = None, *,
            already: Sequence[str] = (), extra: Sequence[str] = ()) -> Publication:
    """Upload the package under ``v/<video>/<publication>/``, master last; what mark_ready needs. Only the
    package's renditions, thumbnails and master go up, less ``already`` (the package directories the
    playable stage published under the same prefix: players of that master may be reading them)."""
    if not package.renditions:
        raise StagingError(f"no finished package for video {run.video_id}: the transcode and package steps must "
                           "run first")
    # Package, thumbnails and the transcodes may have run on other machines; publish uploads all of them.
    run.staging.pull(publish_inputs(package.renditions, thumbs, package.master),
                     step=f"publish of video {run.video_id}")
    prefix = run.prefix
    only = {r.playlist.rsplit("/", 1)[0] for r in package.renditions} | ({"thumbs"} if thumbs else set()) | set(extra)
    with run.timed(f"{PLAYABLE_STEP}publish" if package.master == PLAYABLE_MASTER else "publish"):
        result = publish_package(run.store, run.work_dir / PACKAGE_DIR, run.settings.vod_bucket, prefix,
                                 master=package.master, only=only, skip=already)
    renditions = tuple(
        repo.RenditionRecord(name=r.name, kind=r.kind, codecs=r.codecs, encoder=r.encoder, width=r.width,
                             height=r.height, bandwidth=r.peak_bps, average_bandwidth=r.average_bps,
                             playlist_key=f"{prefix}/{r.playlist}")
        for r in package.renditions)
    return Publication(prefix=result.prefix, master_key=result.master_key, renditions=renditions,
                       objects=result.objects, bytes=result.bytes,
                       poster_key=f"{prefix}/{thumbs.poster}" if thumbs else None,
                       sprite_vtt_key=f"{prefix}/{thumbs.sprite_vtt}" if thumbs else None)


def mark_ready(run: IngestRun, publication: Publication) -> None:
    """Switch the catalog to ``publication``, only if this run still owns the video.

    Two re-runs of one video may overlap; the one that began last owns it (``begin`` records its run id),
    so an older run finishing later cannot switch the video back to its older publication.
    """
    start = time.perf_counter()
    with run.session() as s:
        video = repo.get_video(s, run.video_id, for_update=True)
        owner, first_watchable = video.pipeline_run_id, video.playable_at is None
        if owner not in (None, run.run_id):
            raise SupersededRun(f"run {run.run_id} was superseded by run {owner}; video {run.video_id} keeps that one")
        # The original sound switches with the publication, so its clip is always one the origin keeps
        # (a superseded publication's prefix goes to the GC).
        if publication.sound_clip_key is not None:
            sounds.save_original(s, run.video_id, audio_key=publication.sound_clip_key,
                                 duration_s=publication.sound_clip_s or 0.0)
        repo.mark_ready(s, run.video_id, publish_prefix=publication.prefix, master_key=publication.master_key,
                        renditions=list(publication.renditions), poster_key=publication.poster_key,
                        sprite_vtt_key=publication.sprite_vtt_key)
        repo.record_step_time(s, run.video_id, "mark_ready", time.perf_counter() - start)
    if first_watchable:
        _index_for_search(run)


def mark_playable(run: IngestRun, publication: Publication) -> None:
    """Serve the playable stage's publication, only if this run still owns the video (as ``mark_ready``)."""
    start = time.perf_counter()
    with run.session() as s:
        video = repo.get_video(s, run.video_id, for_update=True)
        owner, first_watchable = video.pipeline_run_id, video.playable_at is None
        if owner not in (None, run.run_id):
            raise SupersededRun(f"run {run.run_id} was superseded by run {owner}; video {run.video_id} keeps that one")
        repo.mark_playable(s, run.video_id, publish_prefix=publication.prefix, master_key=publication.master_key,
                           renditions=list(publication.renditions))
        repo.record_step_time(s, run.video_id, f"{PLAYABLE_STEP}mark", time.perf_counter() - start)
    if first_watchable:
        _index_for_search(run)


def _index_for_search(run: IngestRun) -> None:
    """The new video's words into the search dictionary at once (typo correction finds its caption); best
    effort after the switch has committed: the refresh_search DAG counts it anyway."""
    try:
        with run.session() as s:
            search.add_video_terms(s, run.video_id)
    except Exception:  # the video is watchable already; a dictionary hiccup must not fail the run
        log.exception("could not add video %s to the search dictionary", run.video_id)


def mark_error(run: IngestRun, message: str) -> None:
    """An unexpected pipeline failure (after retries): the video says so instead of hanging in processing."""
    with run.session() as s:
        video = repo.get_video(s, run.video_id, for_update=True)
        if video.state == repo.VideoState.PROCESSING:
            repo.mark_failed(s, run.video_id, code=repo.PROCESSING_ERROR, reason=message)
        elif video.state in SERVABLE_STATES:
            # A failed re-run (the old publication keeps serving), or a playable video whose other codecs
            # failed (its first ladder keeps serving; a re-run can complete it): noted, and the creator told.
            what = "re-run failed" if video.state == repo.VideoState.READY else "adding the other codecs failed"
            video.failure_code, video.failure_reason = repo.PROCESSING_ERROR, f"{what}: {message}"
            video_events.record(s, run.video_id, EventKind.FAILED,
                                {"code": repo.PROCESSING_ERROR, "reason": video.failure_reason,
                                 "still_serving": True}, run_id=run.run_id)


def cleanup(run: IngestRun) -> None:
    """Remove this machine's work dir and the run's staged copy (other workers' dirs are left to them:
    their next run of the same publication starts from what staging says, and scratch is per host)."""
    shutil.rmtree(run.work_dir, ignore_errors=True)
    try:
        removed = run.staging.drop()
    except Exception:  # noqa: BLE001 - S3 unreachable: publication_gc removes the staged copy later
        # Raising would run the tasks' failure callback, which marks a video this run just published
        # as failed; a leftover staging prefix is only storage until the GC's age limit.
        log.warning("could not remove the staged files of video %s; publication_gc will", run.video_id,
                    exc_info=True)
        return
    if removed:
        log.info("removed %d staged files of video %s", removed, run.video_id)


def release_playable(run: IngestRun, source: Source, parts: Sequence[Renditions]) -> Publication | None:
    """The playable stage: package the first H.264 rungs and the audio under ``playable.m3u8``, upload them,
    and make the video playable. None when there is nothing to do: no first rungs in this run's plan, or the
    video is already watchable (a re-run keeps serving its publication until its full switch)."""
    if not any(r.kind == "video" for part in parts for r in part):
        return None
    with run.session() as s:
        if repo.get_video(s, run.video_id).state in SERVABLE_STATES:
            return None
    publication = publish(run, package(run, source, parts, master=PLAYABLE_MASTER))
    mark_playable(run, publication)
    return publication


def _published_under_prefix(run: IngestRun) -> list[str]:
    """The package directories (and master) the playable stage of this run already published, if it did."""
    with run.session() as s:
        video = repo.get_video(s, run.video_id)
        if video.state != repo.VideoState.PLAYABLE or video.publish_prefix != run.prefix:
            return []
        start = len(run.prefix) + 1
        return [PLAYABLE_MASTER, *(r.playlist_key[start:].rsplit("/", 1)[0] for r in video.renditions)]


def release(run: IngestRun, source: Source, parts: Sequence[Renditions], thumbs: Thumbnails | None) -> Publication:
    """Package, upload and switch the catalog: the steps after the encodes, which the DAG runs as one task
    (each is a fraction of a second; a task start costs more). The publication it switched to: the full
    ladder, beside the playable stage's files under the same prefix (uploaded once, never rewritten)."""
    pkg = package(run, source, parts)
    # The original sound's clip, if the audio step made one (on this machine, or staged by another).
    has_clip = any(r.kind == "audio" for part in parts for r in part) and run.staging.pull_optional(SOUND_DIR)
    publication = publish(run, pkg, thumbs, already=_published_under_prefix(run),
                          extra=[SOUND_DIR.split("/", 1)[1]] if has_clip else [])
    if has_clip:
        publication = replace(publication,
                              sound_clip_key=f"{publication.prefix}/{SOUND_DIR.split('/', 1)[1]}/{CLIP_NAME}",
                              sound_clip_s=clip_duration_s(run.work_dir / SOUND_DIR / CLIP_NAME))
    mark_ready(run, publication)
    return publication
