"""storage_tiering: daily, move the renditions of videos nobody watched for ``cold_after_days`` to the
cold bucket. The edge reads the cold bucket as a slower origin and moves a video back to the hot bucket
on its first request (adapters.origin_fetch), so nothing here needs to restore.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task


@dag(dag_id="storage_tiering", schedule=timedelta(days=1), start_date=datetime(2026, 1, 1), catchup=False,
     max_active_runs=1, tags=["operations"], doc_md=__doc__,
     params={"days": Param(None, type=["null", "integer"], minimum=1, description="default: the setting"),
             "limit": Param(1000, type="integer", minimum=1)})
def storage_tiering():
    @task
    def move_cold() -> dict:
        from config.settings import get_settings
        from jobs import tiering

        params = get_current_context()["params"]
        settings = get_settings()
        ids = tiering.cold_candidates(settings, days=params.get("days"), limit=int(params["limit"]))
        return tiering.freeze(settings, ids).moved

    move_cold()


STORAGE_TIERING = storage_tiering()
