"""Helpers the pipeline tests share: a DAG file loaded as a module, a clip put where an upload lands, a
video read back from the catalog."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from catalog import videos as repo
from catalog.db import session_scope

REPO = Path(__file__).resolve().parents[1]


def load_dag_module(name: str, module_name: str | None = None) -> ModuleType:
    """``dags/<name>.py`` as a fresh module (``dags/`` is Airflow's folder, not a package)."""
    spec = importlib.util.spec_from_file_location(module_name or f"{name}_dag", REPO / "dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upload_raw(sessions, store, settings, path: Path, *, run_id: str | None = None) -> str:
    """A catalog video whose raw object is ``path``, as after a creator's upload; with ``run_id`` it is
    already processing under that pipeline run."""
    with session_scope(sessions) as s:
        video = repo.create_video(s, caption=path.name)
        if run_id is not None:
            repo.start_processing(s, video.id, run_id=run_id)
        vid, key = video.id, video.raw_key
    store.client.fput_object(settings.raw_bucket, key, str(path))
    return vid


def get_video(sessions, vid: str):
    with session_scope(sessions) as s:
        return repo.get_video(s, vid)
