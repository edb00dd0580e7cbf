"""upload_lifecycle: hourly, abort multipart uploads in the raw bucket started more than
``REELFLOW_UPLOAD_ABANDON_AFTER_S`` ago (24 h) and fail their videos, when still waiting for them, with
``upload_abandoned``. S3 keeps the parts of an unfinished upload, billed and invisible to listings, until
the upload is aborted (see ``jobs.uploads.abort_abandoned``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task


@dag(dag_id="upload_lifecycle", schedule=timedelta(hours=1), start_date=datetime(2026, 1, 1), catchup=False,
     max_active_runs=1, tags=["operations"], doc_md=__doc__,
     params={"max_age_s": Param(None, type=["null", "integer"], minimum=0, description="default: the setting")})
def upload_lifecycle():
    @task
    def abort_abandoned() -> dict:
        from config.settings import get_settings
        from jobs.uploads import abort_abandoned

        report = abort_abandoned(get_settings(), max_age_s=get_current_context()["params"].get("max_age_s"))
        return {"aborted": report.aborted, "failed_videos": report.failed_videos, "kept": report.kept}

    abort_abandoned()


UPLOAD_LIFECYCLE = upload_lifecycle()
