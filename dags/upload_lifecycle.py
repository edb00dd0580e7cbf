"""upload_lifecycle: hourly, abort multipart uploads in the raw bucket started more than
``REELFLOW_UPLOAD_ABANDON_AFTER_S`` ago (24 h) and fail their videos, when still waiting for them, with
``upload_abandoned``, as well as videos registered that long ago whose single PUT was never completed (their
objects are deleted). S3 keeps the parts of an unfinished upload, billed and invisible to listings, until
the upload is aborted (see ``jobs.uploads.abort_abandoned``). Then ``sweep_raw`` deletes what the raw bucket
no longer needs: objects PUT through an upload URL after ``complete``, the files of deleted videos, and the
raw files of videos failed more than ``REELFLOW_RAW_RETENTION_S`` ago (7 days; see ``jobs.raw_lifecycle``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task


@dag(dag_id="upload_lifecycle", schedule=timedelta(hours=1), start_date=datetime(2026, 1, 1), catchup=False,
     max_active_runs=1, tags=["operations"], doc_md=__doc__,
     params={"max_age_s": Param(None, type=["null", "integer"], minimum=0, description="default: the setting"),
             "retention_s": Param(None, type=["null", "integer"], minimum=0, description="default: the setting")})
def upload_lifecycle():
    @task
    def abort_abandoned() -> dict:
        from config.settings import get_settings
        from jobs.uploads import abort_abandoned

        report = abort_abandoned(get_settings(), max_age_s=get_current_context()["params"].get("max_age_s"))
        return {"aborted": report.aborted, "failed_videos": report.failed_videos, "kept": report.kept,
                "deleted": report.deleted}

    @task
    def sweep_raw() -> dict:
        from config.settings import get_settings
        from jobs.raw_lifecycle import sweep_raw

        params = get_current_context()["params"]
        report = sweep_raw(get_settings(), retention_s=params.get("retention_s"), orphan_age_s=params.get("max_age_s"))
        return {"deleted": report.deleted, "kept": report.kept}

    abort_abandoned() >> sweep_raw()  # after the sweep of abandoned uploads, whose videos it fails


UPLOAD_LIFECYCLE = upload_lifecycle()
