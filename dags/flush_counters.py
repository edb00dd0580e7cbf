"""flush_counters: live counter deltas from Redis into the catalog's totals, every 5 minutes.

When something was flushed it emits ``reelflow://interactions/flushed``, the Asset that tells
``refresh_candidates`` new interactions have arrived (a quiet period skips, and triggers nothing).
The API also flushes every 30 s; both drain the same keys atomically, so running both is harmless.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

INTERACTIONS = Asset("reelflow://interactions/flushed")


@dag(dag_id="flush_counters", schedule=timedelta(minutes=5), catchup=False, max_active_runs=1, tags=["recommend"],
     default_args={"retries": 2, "retry_delay": timedelta(seconds=20)}, doc_md=__doc__)
def flush_counters():
    @task(outlets=[INTERACTIONS])
    def flush() -> int:
        from config.settings import get_settings
        from jobs import recsys

        flushed = recsys.flush_counters(get_settings())
        if not flushed:
            raise AirflowSkipException("no new interactions")
        return flushed

    flush()


FLUSH_COUNTERS = flush_counters()
