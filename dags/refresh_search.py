"""refresh_search: rebuild the search dictionary (``search_terms``) from the discoverable videos, every 15 minutes.

The dictionary is what typo correction, completions and hashtag/sound search read: every word, hashtag and
sound that a discoverable video carries, with how many do. Between runs a new word is still found exactly (the
full-text index is live); only its corrections and completions wait for the next run. A rebuild also forgets
the words of videos deleted, made private or taken down since (docs/search.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(dag_id="refresh_search", schedule=timedelta(minutes=15), start_date=datetime(2026, 1, 1), catchup=False,
     max_active_runs=1, tags=["search"], default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
     doc_md=__doc__)
def refresh_search():
    @task
    def refresh_terms() -> dict[str, int]:
        from config.settings import get_settings
        from jobs.search import refresh_terms

        return refresh_terms(get_settings())

    refresh_terms()


REFRESH_SEARCH = refresh_search()
