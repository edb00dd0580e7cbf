"""train_models: daily retraining of the retrieval model and the ranker on a window of the interaction log.

A content team can retrain on a chosen window from the UI (``window_start`` / ``window_end``, ISO dates;
empty = the 14 days before the run) with a chosen number of epochs. The version name is derived from the
window and parameters, so a re-run overwrites the same version; the registry's pointer switches last,
and the ``reelflow://models/registered`` Asset makes ``refresh_candidates`` pick the new version up.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

MODELS = Asset("reelflow://models/registered")


@dag(
    dag_id="train_models",
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    tags=["recommend"],
    params={
        "window_start": Param("", type="string", description="ISO date or datetime; empty = window_end - 14 days"),
        "window_end": Param("", type="string", description="ISO date or datetime; empty = the run's time"),
        "epochs": Param(5, type="integer", minimum=1, maximum=200),
    },
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
)
def train_models():
    from config.settings import get_settings
    from jobs import recsys

    @task(execution_timeout=timedelta(hours=2), outlets=[MODELS])
    def train_two_tower() -> dict:
        ctx = get_current_context()
        p = ctx["params"]
        start, end = recsys.window(p["window_start"], p["window_end"], default_end=ctx["dag_run"].run_after)
        report = recsys.train_two_tower(get_settings(), start=start, end=end, epochs=int(p["epochs"]))
        if report is None:  # nothing registered, so no Asset event and no needless refresh
            raise AirflowSkipException("no positives in the window, or the two-tower module is not installed")
        return report

    # Its features are the two-tower vectors, so it trains on the version just registered (skipped with it).
    @task(execution_timeout=timedelta(hours=2), outlets=[MODELS])
    def train_ranker(two_tower: dict) -> dict:
        ctx = get_current_context()
        p = ctx["params"]
        start, end = recsys.window(p["window_start"], p["window_end"], default_end=ctx["dag_run"].run_after)
        report = recsys.train_ranker(get_settings(), start=start, end=end, epochs=int(p["epochs"]),
                                     two_tower=two_tower["version"])
        if report is None:
            raise AirflowSkipException("no impressions of known videos in the window")
        return report

    train_ranker(train_two_tower())


TRAIN_MODELS = train_models()
