"""publication_gc: delete publications that re-runs replaced, and those no video points to whose run is over
(a publish that failed after its last retry), once their grace period is over.

Players that loaded an old master keep fetching its segments for a while, so nothing is deleted
before ``REELFLOW_SUPERSEDED_GRACE_S`` after the switch (see ``jobs.operations.collect_superseded``).
It also deletes ingest staging untouched for ``REELFLOW_STAGING_MAX_AGE_S`` (runs that died before
their ``cleanup``; see ``jobs.operations.collect_stale_staging``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(dag_id="publication_gc", schedule=timedelta(hours=1), start_date=datetime(2026, 1, 1), catchup=False,
     max_active_runs=1, tags=["operations"], doc_md=__doc__)
def publication_gc():
    @task
    def collect() -> dict:
        from config.settings import get_settings
        from jobs.operations import collect_superseded

        report = collect_superseded(get_settings())
        return {"deleted": report.deleted, "kept_in_grace": report.kept_in_grace, "kept_running": report.kept_running}

    @task
    def collect_staging() -> dict[str, int]:
        # Ingest staging (REELFLOW_STAGING=s3) left by runs whose cleanup never ran.
        from config.settings import get_settings
        from jobs.operations import collect_stale_staging

        return collect_stale_staging(get_settings())

    collect()
    collect_staging()


PUBLICATION_GC = publication_gc()
