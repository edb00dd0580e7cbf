"""Airflow imports ``airflow_local_settings`` at start-up in every one of its processes; the local stack and
the containers put this directory on Airflow's PYTHONPATH (``AIRFLOW_CONFIG_DIR`` in ``reelflow.stack``).

The processes that fork task processes (the scheduler, whose LocalExecutor workers fork each task, and
Celery workers) import the ingest steps once here, so a task process starts with PyAV, OpenCV, SQLAlchemy,
the catalog and the settings already loaded instead of importing them again. Measured on 2 cores with
``bench/ingest_latency.py --seconds 4 --size 640x360``: a task that does nothing (``nvenc_codecs``) went
from ~3 s to 0.6 s, and upload-complete -> ready from a median of 24.6 s to 11.3 s.

Where ``REELFLOW_AIRFLOW_LOG_SERVER_HOST`` is set (the local stack sets 127.0.0.1), the log servers of the
scheduler and the triggerer listen there only: Airflow 3 binds them to every interface with no setting to
change it. ``loopback_hostname`` is the ``hostname_callable`` that sends the API server to them on that
address (a task's recorded hostname is where its logs are fetched from).
"""

from __future__ import annotations

import os
import sys

LOG_SERVER_HOST_ENV = "REELFLOW_AIRFLOW_LOG_SERVER_HOST"


def forks_task_processes(argv: list[str]) -> bool:
    return argv[1:2] == ["scheduler"] or argv[1:3] == ["celery", "worker"]


def serves_logs(argv: list[str]) -> bool:
    """The processes that start Airflow's log server (``airflow.utils.serve_logs``) as a subprocess."""
    return argv[1:2] in (["scheduler"], ["triggerer"]) or argv[1:3] == ["celery", "worker"]


def bind_log_server(host: str) -> None:
    """Make every uvicorn server this process (and its forks) starts listen on ``host``. In the processes of
    ``serves_logs`` the only one is the log server, started with ``host=""`` (every interface, IPv4 and 6)."""
    import uvicorn

    if getattr(uvicorn.run, "reelflow_host", None) == host:
        return
    run = uvicorn.run

    def run_on_host(app, **kwargs):  # noqa: ANN001, ANN202 - uvicorn's own signature
        return run(app, **{**kwargs, "host": host})

    run_on_host.reelflow_host = host  # type: ignore[attr-defined]
    uvicorn.run = run_on_host


def loopback_hostname() -> str:
    return "127.0.0.1"


if os.environ.get(LOG_SERVER_HOST_ENV) and serves_logs(sys.argv):
    bind_log_server(os.environ[LOG_SERVER_HOST_ENV])

if forks_task_processes(sys.argv):
    import jobs.ingest  # noqa: F401  (loaded for the forks; TensorFlow stays lazy: only embed needs it)
