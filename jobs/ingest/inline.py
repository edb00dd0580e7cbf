"""The whole pipeline in one process, without Airflow (``reelflow reprocess --inline``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from config.settings import Settings
from jobs.ingest import steps
from jobs.ingest.run import IngestRun, UploadRejected

log = logging.getLogger("jobs.ingest")


def run_inline(settings: Settings, video_id: str, run_id: str, codecs: Iterable[str] | None = None) -> str:
    """One video while Airflow is down, or to debug it in one process: the same steps as the DAG's
    tasks, one after the other. A rejection is an outcome (returned as ``"rejected: ..."``); an
    unexpected error marks the video as the DAG's failure callback would, and is raised.
    """
    # Every step runs here, in one work dir: staging in S3 would only copy files to read them back.
    run = IngestRun(settings.model_copy(update={"staging": "local"}), video_id, run_id)
    try:
        steps.begin(run)
        source = steps.validate(run)
        steps.dedup(run)
        plan = steps.plan_encodes(run.settings, steps.codecs_for_run(run.settings, codecs), source.info)
        first, audio = steps.transcode_playable(run, source, plan.first)
        steps.release_playable(run, source, [first, audio])
        parts = [steps.transcode(run, source, job) for job in (*plan.cpu, *plan.gpu)]
        thumbs = steps.thumbnails(run, source)
        steps.release(run, source, [first, *parts, audio], thumbs)
        try:  # as in the DAG, the embedding is not on the path to ready: without one the video still is
            steps.embed(run)
        except Exception:  # noqa: BLE001 - logged; only the content-similar source misses the video
            log.warning("no content embedding for video %s; it is served without one", video_id, exc_info=True)
        return "ready"
    except UploadRejected as exc:
        return f"rejected: {exc}"
    except Exception as exc:
        steps.mark_error(run, f"processing failed inline ({exc!s:.200})")
        raise
    finally:
        steps.cleanup(run)
