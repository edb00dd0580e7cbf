"""refresh_candidates: every active user's candidate pool, recomputed and written to Redis.

Runs every 15 minutes and whenever new videos are published or get their content embedding, new interactions
are flushed, or a new model version is registered. Sources: two-tower (when a model is registered),
content-similar to recent finishes and likes, following, regional trending, exploration; merged with quotas
and filtered (``jobs.candidates``). Each run reads as of its own ``run_after`` time, so a re-run writes
the same pools.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

PUBLISHED = Asset("reelflow://videos/published")
EMBEDDED = Asset("reelflow://videos/embedded")  # a new video's content embedding, for the similar source
INTERACTIONS = Asset("reelflow://interactions/flushed")
MODELS = Asset("reelflow://models/registered")


@dag(
    dag_id="refresh_candidates",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
                                 assets=(PUBLISHED | EMBEDDED | INTERACTIONS | MODELS)),
    catchup=False,
    max_active_runs=1,  # asset events arriving during a run are folded into the next one
    tags=["recommend"],
    params={
        "embedding_model": Param("efficientnet-lite0-imagenet-v1", type="string",
                                 description="content-embedding model for the similar source"),
        "pool_size": Param(400, type="integer", minimum=10, maximum=2000),
        "window_days": Param(14, type="number", minimum=1, description="days of events read"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
    doc_md=__doc__,
)
def refresh_candidates():
    from config.settings import get_settings
    from jobs import recsys

    @task
    def models() -> dict:
        return recsys.current_models(get_settings())

    @task(execution_timeout=timedelta(minutes=30))
    def refresh(versions: dict) -> dict:
        ctx = get_current_context()
        p = ctx["params"]
        return recsys.refresh_pools(get_settings(), as_of=ctx["dag_run"].run_after, run_id=ctx["run_id"],
                                    models=versions, embedding_model=p["embedding_model"],
                                    pool_size=int(p["pool_size"]), window_days=float(p["window_days"]))

    refresh(models())


REFRESH_CANDIDATES = refresh_candidates()
