"""ingest_video: one uploaded video from the raw bucket to a published HLS package.

Triggered by the feed API (conf ``{"video_id": ...}``) or by a person from the UI to re-process.
Each task is a line or two over ``jobs.ingest``; rejected uploads skip the rest of the run. The steps
take and return typed values; this file turns them into JSON for XCom and back, and nothing else does.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Asset, Param, XComArg, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from media.codecs import CODEC_NAMES

PUBLISHED = Asset("reelflow://videos/published")
EMBEDDED = Asset("reelflow://videos/embedded")
ENCODE_PRIORITY = 100  # above any downstream-summed weight of this DAG's other tasks


def _video_id(params) -> str:
    video_id = str(params.get("video_id") or "").strip()
    if not video_id:
        raise AirflowFailException("conf must name the video: {\"video_id\": \"...\"}")
    return video_id


def _run():
    """This task's ingest run: the settings, the video of the conf and the DAG run's id, as one value."""
    from config.settings import get_settings
    from jobs.ingest import IngestRun

    context = get_current_context()
    return IngestRun(get_settings(), _video_id(context["params"]), context["run_id"])


def _on_failure(context) -> None:
    """After the last retry: the video says it failed instead of hanging in ``processing``."""
    from config.settings import get_settings
    from jobs import ingest

    try:
        video_id = _video_id(context["params"])
    except AirflowFailException:  # no video to mark: the conf named none
        return
    task_id = context["task_instance"].task_id
    ingest.mark_error(ingest.IngestRun(get_settings(), video_id, context["run_id"]),
                      f"processing failed in step {task_id!r} ({context.get('exception')!s:.200})")


def _on_embed_failure(context) -> None:
    """The video stays as it is (ready): only the content-similar source lacks it."""
    logging.getLogger(__name__).warning(
        "no content embedding for video %s after retries; it is served without one",
        context["params"].get("video_id"))


@dag(
    dag_id="ingest_video",
    schedule=None,
    catchup=False,
    max_active_runs=8,
    tags=["ingest"],
    params={
        "video_id": Param("", type="string", description="catalog id of the uploaded video"),
        "codecs": Param(None, type=["null", "array"], items={"type": "string", "enum": list(CODEC_NAMES)},
                        minItems=1, description="re-run with these codecs; default: the settings"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True,
                  "on_failure_callback": _on_failure},
    doc_md=__doc__,
)
def ingest_video():
    from config.settings import get_settings
    from jobs import ingest

    # The sequential start of the run, in one task: begin (the video becomes processing, this run its owner),
    # validate, dedup, and the encode plan (each codec's encoder chosen here, once). Every task start costs a
    # process and a scheduler round on the path to playable; all four are idempotent, so a retry repeats them.
    # Returns the software encodes, which the transcode mapping expands over. A mapping cannot expand over one
    # key of a task's dict, so the source and the NVENC encodes go to XCom under keys of their own.
    @task(retries=3)
    def validate() -> list[dict]:
        run = _run()
        ingest.begin(run)
        try:
            source = ingest.validate(run)
            ingest.dedup(run)  # a duplicate skips everything below
        except ingest.UploadRejected as exc:
            raise AirflowSkipException(str(exc)) from exc
        plan = ingest.plan_encodes(run.settings, ingest.codecs_for_run(
            run.settings, get_current_context()["params"].get("codecs")), source.info)
        ti = get_current_context()["ti"]
        ti.xcom_push(key="source", value=source.to_json())
        ti.xcom_push(key="first", value=plan.first.to_json() if plan.first else None)
        ti.xcom_push(key="nvenc", value=[j.to_json() for j in plan.gpu])
        return [j.to_json() for j in plan.cpu]

    @task
    def nvenc_codecs() -> list[dict]:
        return get_current_context()["ti"].xcom_pull(task_ids="validate", key="nvenc") or []

    def _transcode(source: dict, job: dict, *, playable: bool = False) -> list[dict]:
        encode = ingest.EncodeJob.from_json(job)
        get_current_context()["codec"] = encode.label
        try:
            return ingest.renditions_to_json(ingest.transcode(_run(), ingest.Source.from_json(source), encode,
                                                              playable=playable))
        except ingest.UploadRejected as exc:
            raise AirflowSkipException(str(exc)) from exc

    # The playable stage in one task: the plan's first H.264 rungs with the audio on a thread beside them,
    # then package them under playable.m3u8, upload and make the video playable. Nothing else is started
    # before: on a small machine the first rungs get every core. One task, not three: each task start is a
    # process and a scheduler round on the path to playable. Returns both encodes for the full publication.
    @task(execution_timeout=timedelta(minutes=30), priority_weight=ENCODE_PRIORITY, weight_rule="absolute")
    def playable(source: dict, job: dict | None) -> dict:
        run, src = _run(), ingest.Source.from_json(source)
        try:
            first, audio = ingest.transcode_playable(run, src, ingest.EncodeJob.from_json(job) if job else None)
            ingest.release_playable(run, src, [first, audio])
        # A rejected video, or a newer run owns it (this run's prefix is left to the GC).
        except (ingest.UploadRejected, ingest.SupersededRun) as exc:
            raise AirflowSkipException(str(exc)) from exc
        return {"first": ingest.renditions_to_json(first), "audio": ingest.renditions_to_json(audio)}

    # One mapped task per codec (or the rest of H.264's rungs), named after it in the UI; each decodes the
    # source once for its rungs. The encodes are the long pole: when more tasks are ready than the executor
    # has slots, they start first and the short ones (thumbnails, nvenc_codecs) fill the slots left.
    @task(execution_timeout=timedelta(minutes=30), map_index_template="{{ codec }}", priority_weight=ENCODE_PRIORITY,
          weight_rule="absolute")
    def transcode(source: dict, job: dict) -> list[dict]:
        return _transcode(source, job)

    # The same for codecs whose encoder is NVENC on this host (none on a CPU-only host: skipped). NVENC
    # sessions per GPU are few, so these queue in their own pool.
    @task(execution_timeout=timedelta(minutes=15), map_index_template="{{ codec }}", pool=ingest.GPU_POOL,
          priority_weight=ENCODE_PRIORITY, weight_rule="absolute",
          queue=get_settings().gpu_queue)
    def transcode_gpu(source: dict, job: dict) -> list[dict]:
        return _transcode(source, job)

    @task
    def thumbnails(source: dict) -> dict:
        return ingest.thumbnails(_run(), ingest.Source.from_json(source)).to_json()

    # After "ready", off its path: the video is watchable without its content embedding, and on a short
    # clip TensorFlow's import alone (5-9 s of CPU) took longer than the whole ladder. The refresh DAG picks
    # the embedding up through its own asset; a failure leaves the video ready (the run shows red).
    @task(outlets=[EMBEDDED], on_failure_callback=_on_embed_failure)
    def embed() -> dict:
        embedding = ingest.embed(_run())
        return {"model": embedding.model, "dimension": embedding.dimension,
                "screen_flags": list(embedding.screen_flags)}

    # Package, upload and switch in one task: each is a fraction of a second, and a task costs a process
    # start and a scheduler round (~2 s each on the path to ready). Runs when either transcode mapping has
    # nothing to do (skipped); it refuses a rejected video itself. A retry repeats all three: the upload
    # goes to the run's own prefix, so it overwrites itself.
    @task(trigger_rule="none_failed_min_one_success", retries=4, outlets=[PUBLISHED])
    def publish(source: dict, stage: dict, video: list[list[dict]] | None, video_gpu: list[list[dict]] | None,
                thumbs: dict) -> None:
        parts = [ingest.renditions_from_json(part)
                 for part in (stage["first"], *(video or []), *(video_gpu or []), stage["audio"])]
        try:
            ingest.release(_run(), ingest.Source.from_json(source), parts, ingest.Thumbnails.from_json(thumbs))
        # A rejected video, or a newer run owns it (this run's prefix is left to the GC).
        except (ingest.UploadRejected, ingest.SupersededRun) as exc:
            raise AirflowSkipException(str(exc)) from exc

    @task(retries=0)
    def cleanup() -> None:
        ingest.cleanup(_run())

    codecs = validate()
    source = XComArg(codecs.operator, key="source")
    stage = playable(source, XComArg(codecs.operator, key="first"))
    # Everything else waits for the playable stage: on 2 cores an AV1 encode or the thumbnails beside the
    # first rungs would double the creator's wait for playable, and ready comes no sooner (the same CPU work).
    gpu_codecs = nvenc_codecs()
    video = transcode.partial(source=source).expand(job=codecs)
    video_gpu = transcode_gpu.partial(source=source).expand(job=gpu_codecs)
    thumbs = thumbnails(source)
    stage >> [video, gpu_codecs, thumbs]
    ready = publish(source, stage, video, video_gpu, thumbs)
    embedding = embed()
    ready >> embedding  # after ready: its TensorFlow start-up would take CPU from the encodes
    # cleanup is a teardown: it runs once everything upstream is done, whatever their states, and it does
    # not decide the run's state. No setup: validate, the first task, may skip (a rejected upload), and a
    # skipped setup would skip its teardown. It waits for embed too, which reads the scan's samples from
    # the work dir cleanup removes.
    [ready, embedding] >> cleanup().as_teardown()


INGEST_VIDEO = ingest_video()
