"""publication_gc: delete publications that re-runs replaced, once their grace period is over.

Players that loaded an old master keep fetching its segments for a while, so nothing is deleted
before ``REELFLOW_SUPERSEDED_GRACE_S`` after the switch (see ``reelflow.operations.collect_superseded``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(dag_id="publication_gc", schedule=timedelta(hours=1), start_date=datetime(2026, 1, 1), catchup=False,
     max_active_runs=1, tags=["operations"], doc_md=__doc__)
def publication_gc():
    @task
    def collect() -> dict:
        from reelflow.operations import collect_superseded
        from reelflow.settings import get_settings

        report = collect_superseded(get_settings())
        return {"deleted": report.deleted, "kept_in_grace": report.kept_in_grace}

    collect()


PUBLICATION_GC = publication_gc()
