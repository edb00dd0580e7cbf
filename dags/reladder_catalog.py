"""reladder_catalog: re-process the whole catalog, or a filtered part, as a controlled batch.

Trigger it with ``dry_run`` on (the default) to see how many videos match, then again with it off.
Every matching video is re-processed by an ``ingest_video`` run of its own, with the run id
``reladder:<batch>:<video>``: per-codec tasks, the GPU queue and staging, as for an upload. At most
``max_in_flight`` of the batch's runs are queued or running at once, and none is started while other
``ingest_video`` runs are queued: the batch fills the capacity creators' uploads leave idle. The videos
are cut into chunks of ``chunk_size``, one grid cell each: a task that starts its videos' runs when
there is room and waits for them, deferred to the triggerer between looks (no worker slot held).
Clearing a chunk, or triggering a new batch run with the same ``batch``, finds the runs already started
instead of starting them again. Each video keeps serving its current publication until its new one is
switched in; the run ends failed, naming them, if any video was not re-processed.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, Context, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from jobs.reladder import BATCH_NAME_PATTERN
from media.codecs import CODEC_NAMES


def _batch() -> str:
    ctx = get_current_context()
    return str(ctx["params"].get("batch") or ctx["run_id"])


class ReladderChunk(BaseOperator):
    """One chunk: start its videos' ingest runs when the window has room, then wait for them.

    Between looks it defers to a timer in the triggerer, so it holds no worker slot. Every look is
    idempotent (the run ids), so a retry resumes: Airflow fails a task into a retry when it is queued again
    before the executor reported its previous process (apache/airflow#71172), hence the retries and a look
    interval (``reladder_poke_s``) well above that lag.
    """

    template_fields = ("video_ids",)

    def __init__(self, *, video_ids: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.video_ids = video_ids

    def execute(self, context: Context, event: object = None) -> dict[str, str]:
        from config.settings import get_settings
        from jobs import reladder

        settings, params = get_settings(), context["params"]
        context["chunk_label"] = f"{self.video_ids[0]}… ({len(self.video_ids)})"
        step = reladder.advance_chunk(settings, _batch(), self.video_ids, params.get("codecs"),
                                      max_in_flight=int(params["max_in_flight"]))
        self.log.info("started %s, waiting for %d, finished %s", step.start, len(step.waiting), step.outcomes)
        if not step.done:
            self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=settings.reladder_poke_s)), method_name="execute")
        return step.outcomes


@dag(
    dag_id="reladder_catalog",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["ingest", "operations"],
    params={
        "created_after": Param(None, type=["null", "string"], description="ISO date/time, inclusive"),
        "created_before": Param(None, type=["null", "string"], description="ISO date/time, exclusive"),
        "creator": Param(None, type=["null", "string"], description="only this creator's videos (user id)"),
        "missing_codec": Param(None, type=["null", "string"], enum=[None, *CODEC_NAMES],
                               description="only videos without a rendition of this codec"),
        "codecs": Param(None, type=["null", "array"], items={"type": "string", "enum": list(CODEC_NAMES)},
                        minItems=1, description="re-ladder with these codecs; default: settings"),
        "chunk_size": Param(10, type="integer", minimum=1, maximum=1000),
        "max_in_flight": Param(4, type="integer", minimum=1, maximum=64,
                               description="the batch's ingest_video runs queued or running at once; keep it "
                                           "below ingest_video's max_active_runs (8) to leave room for uploads"),
        "dry_run": Param(True, type="boolean", description="only count the matches"),
        "batch": Param("", type="string", pattern=f"{BATCH_NAME_PATTERN}|^$",
                       description="resume key (letters, digits, _ . ~ + -); default: this run's id"),
    },
    doc_md=__doc__,
)
def reladder_catalog():
    from config.settings import get_settings
    from jobs import reladder

    @task
    def count_matches() -> list[list[str]]:
        params = get_current_context()["params"]
        ids = reladder.matching_videos(get_settings(), reladder.LadderFilter.from_params(params, _batch()))
        print(f"{len(ids)} videos match {dict(params)}; batch {_batch()!r}")
        if params["dry_run"]:
            print("dry run: nothing re-processed")
            return []  # the chunk mapping is skipped
        return reladder.chunks(ids, int(params["chunk_size"]))

    @task(trigger_rule="all_done")
    def summary(outcomes: list[dict] | None) -> dict:
        merged = {k: v for chunk in (outcomes or []) for k, v in chunk.items()}
        done, failed = reladder.summarize(merged)
        print(f"{done} re-processed, {len(failed)} not: {failed}")
        if failed:  # listed by `reelflow videos --state failed`; `reelflow retry` re-runs processing errors
            raise AirflowFailException(f"{len(failed)} of {len(merged)} videos were not re-processed: {failed}")
        return {"done": done, "failed": failed}

    chunk_outcomes = ReladderChunk.partial(task_id="reladder_chunk", retries=5, retry_delay=timedelta(seconds=30),
                                           map_index_template="{{ chunk_label }}").expand(video_ids=count_matches())
    summary(chunk_outcomes.output)


RELADDER_CATALOG = reladder_catalog()
