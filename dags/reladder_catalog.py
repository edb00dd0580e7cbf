"""reladder_catalog: re-process the whole catalog, or a filtered part, as a controlled batch.

Trigger it with ``dry_run`` on (the default) to see how many videos match, then again with it off.
The matches are cut into chunks of ``chunk_size``; each chunk is one mapped task (a few run at a time,
``max_active_tis_per_dagrun``), so progress shows in the grid chunk by chunk. Every video re-processed
by a batch carries the run id ``reladder:<batch>:<video>``: clearing a failed run, or triggering a new
one with the same ``batch``, skips what is done and resumes where it stopped. Each video keeps serving
its current publication until its new one is switched in.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

CODECS = ["h264", "hevc", "av1"]


def _batch() -> str:
    ctx = get_current_context()
    return str(ctx["params"].get("batch") or ctx["run_id"])


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
        "missing_codec": Param(None, type=["null", "string"], enum=[None, *CODECS],
                               description="only videos without a rendition of this codec"),
        "codecs": Param(None, type=["null", "array"], description="re-ladder with these codecs; default: settings"),
        "chunk_size": Param(10, type="integer", minimum=1, maximum=1000),
        "dry_run": Param(True, type="boolean", description="only count the matches"),
        "batch": Param("", type="string", description="resume key; default: this run's id"),
    },
    doc_md=__doc__,
)
def reladder_catalog():
    from reelflow import operations
    from reelflow.settings import get_settings

    @task
    def count_matches() -> list[list[str]]:
        params = get_current_context()["params"]
        ids = operations.matching_videos(get_settings(), operations.LadderFilter.from_params(params, _batch()))
        print(f"{len(ids)} videos match {dict(params)}; batch {_batch()!r}")
        if params["dry_run"]:
            print("dry run: nothing re-processed")
            return []  # the chunk mapping is skipped
        return operations.chunks(ids, int(params["chunk_size"]))

    @task(max_active_tis_per_dagrun=2, map_index_template="{{ chunk_label }}")
    def reladder_chunk(video_ids: list[str]) -> dict:
        ctx = get_current_context()
        ctx["chunk_label"] = f"{video_ids[0]}… ({len(video_ids)})"
        return operations.reladder_chunk(get_settings(), _batch(), video_ids, ctx["params"].get("codecs"))

    @task(trigger_rule="all_done")
    def summary(outcomes: list[dict] | None) -> dict:
        merged = {k: v for chunk in (outcomes or []) for k, v in chunk.items()}
        failed = {k: v for k, v in merged.items() if v not in ("ready", "already done")}
        print(f"{len(merged) - len(failed)} re-processed, {len(failed)} not: {failed}")
        return {"done": len(merged) - len(failed), "failed": failed}

    summary(reladder_chunk.expand(video_ids=count_matches()))


RELADDER_CATALOG = reladder_catalog()
