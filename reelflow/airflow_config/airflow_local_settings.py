"""Airflow imports ``airflow_local_settings`` at start-up in every one of its processes; the local stack and
the containers put this directory on Airflow's PYTHONPATH (``AIRFLOW_CONFIG_DIR`` in ``reelflow.stack``).

The processes that fork task processes (the scheduler, whose LocalExecutor workers fork each task, and
Celery workers) import the ingest steps once here, so a task process starts with PyAV, OpenCV, SQLAlchemy,
the catalog and the settings already loaded instead of importing them again. Measured on 2 cores with
``bench/ingest_latency.py --seconds 4 --size 640x360``: a task that does nothing (``nvenc_codecs``) went
from ~3 s to 0.6 s, and upload-complete -> ready from a median of 24.6 s to 11.3 s.
"""

from __future__ import annotations

import sys


def forks_task_processes(argv: list[str]) -> bool:
    return argv[1:2] == ["scheduler"] or argv[1:3] == ["celery", "worker"]


if forks_task_processes(sys.argv):
    import jobs.ingest  # noqa: F401  (loaded for the forks; TensorFlow stays lazy: only embed needs it)
