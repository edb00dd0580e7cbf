"""prewarm_edges: every 10 minutes, push the start of each region's rising videos to that region's POPs.

The choice (growth of the trending score, a byte budget per POP) is ``cdn_sim.prewarm``; reading the
live store's trending scores, keeping only discoverable videos and calling the edge's ``/admin/push``
is ``jobs.prewarm``. A run that finds the edge down fails and is retried; a missed run loses nothing
but its own pushes (the next one compares against the last saved sample).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task


@dag(dag_id="prewarm_edges", schedule=timedelta(minutes=10), catchup=False, max_active_runs=1, tags=["cdn"],
     default_args={"retries": 1, "retry_delay": timedelta(seconds=30)}, doc_md=__doc__)
def prewarm_edges():
    @task
    def push_rising() -> dict:
        from adapters import live_store
        from config.clients import edge_pusher, redis_client, sessions
        from config.settings import get_settings
        from jobs import prewarm

        settings = get_settings()
        pusher = edge_pusher(settings)
        try:
            runs = prewarm.run(redis_client(settings), live_store.Keys(settings.redis_prefix), sessions(settings),
                               pusher, bucket=settings.vod_bucket)
        finally:
            pusher.close()
        return prewarm.summary(runs)

    push_rising()


PREWARM_EDGES = prewarm_edges()
