"""What each container runs, derived from the one settings object (``REELFLOW_*``), so the images and
the local stack are driven by the same configuration.

``python -m reelflow.container check ROLE [ARGS...]`` prints the resolved settings (secrets masked) and
the command the role would run, and exits 0 (``docker/entrypoint.sh ROLE --check`` calls it; it runs
without Docker). ``python -m reelflow.container run ROLE [ARGS...]`` replaces itself with that command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from config.settings import REPO_ROOT, Settings, get_settings

# Holds airflow_local_settings.py: on Airflow's PYTHONPATH, it preloads the ingest steps where task processes
# are forked (see that module).
AIRFLOW_CONFIG_DIR = Path(__file__).resolve().parent / "airflow_config"


def airflow_pythonpath(environ: dict[str, str]) -> str:
    return os.pathsep.join(p for p in (str(AIRFLOW_CONFIG_DIR), environ.get("PYTHONPATH", "")) if p)

ROLES = ("api", "edge", "airflow", "init")
SECRET_WORDS = ("secret", "password", "key")


def mask_url(value: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://user:***@host``."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", value)


def masked(settings: Settings) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in settings.model_dump(mode="json").items():
        if (any(w in name for w in SECRET_WORDS) or name.endswith("_token")) and not name.endswith("_bytes"):
            value = "***" if value else ""
        elif isinstance(value, str):
            value = mask_url(value)
        out[name] = value
    return out


def airflow_env(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Airflow's variables from the settings; anything already set in the environment wins (compose sets
    the executor, broker and result backend)."""
    environ = dict(os.environ if environ is None else environ)
    derived = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.airflow_database_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url.rstrip('/')}/execution/",
        "AIRFLOW__API__BASE_URL": settings.airflow_url,
        "PYTHONPATH": airflow_pythonpath(environ),
    }
    return {**derived, **{k: v for k, v in environ.items() if k.startswith("AIRFLOW")}}


def command(role: str, args: list[str], settings: Settings) -> list[str]:
    py = sys.executable
    if role == "api":
        workers = os.environ.get("WEB_CONCURRENCY", "1")
        return [py, "-m", "uvicorn", "feed_api.app:create_app", "--factory", "--host", settings.api_host,
                "--port", str(settings.api_port), "--workers", workers, "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--timeout-graceful-shutdown", "5", *args]  # event streams: close on stop
    if role == "edge":
        return [py, "-m", "reelflow.cli", "edge", "serve", *args]
    if role == "airflow":
        if not args:
            raise ValueError("airflow needs a subcommand: api-server, scheduler, dag-processor, triggerer, "
                             "celery worker -q QUEUE")
        return [shutil.which("airflow") or str(Path(py).with_name("airflow")), *args]
    if role == "init":
        return [py, "-m", "reelflow.container", "init", *args]
    raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def init(settings: Settings) -> None:
    """One-shot set-up before the services: catalog and Airflow databases, migrations, buckets, the GPU pool."""
    import subprocess

    from catalog.db import ensure_database
    from catalog.migrate import upgrade
    from config.clients import origin_store
    from jobs.ingest import GPU_POOL

    for url in (settings.database_url, settings.airflow_database_url):
        ensure_database(url)
    upgrade(settings.database_url)
    origin_store(settings).ensure_buckets(settings.raw_bucket, settings.vod_bucket, settings.cold_bucket)
    env = {**os.environ, **airflow_env(settings)}
    airflow = command("airflow", ["db", "migrate"], settings)
    subprocess.run(airflow, env=env, check=True)
    subprocess.run([airflow[0], "pools", "set", GPU_POOL, str(settings.gpu_pool_slots), "NVENC transcodes"],
                   env=env, check=True)
    print("init: databases migrated, buckets present, pool set")


def main(argv: list[str]) -> int:
    if argv[:1] == ["init"]:
        init(get_settings())
        return 0
    if len(argv) < 2 or argv[0] not in ("check", "run"):
        print(f"usage: python -m reelflow.container check|run ROLE [ARGS...]   (roles: {', '.join(ROLES)})",
              file=sys.stderr)
        return 2
    settings = get_settings()
    action, role, args = argv[0], argv[1], argv[2:]
    try:
        cmd = command(role, args, settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = airflow_env(settings) if role in ("airflow", "init") else {}
    if action == "check":
        print(json.dumps({"role": role, "command": cmd, "settings": masked(settings), "airflow_env": {
            k: ("***" if any(w in k.lower() for w in ("secret", "password", "fernet")) else mask_url(v))
            for k, v in env.items()}}, indent=2, default=str))
        return 0
    os.environ.update(env)
    os.execvp(cmd[0], cmd)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
