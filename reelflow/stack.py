"""The local stack: every service on loopback, state and logs under ``settings.home``.

``up`` starts what is not running (starting twice is harmless), ``down`` stops only what ``up``
started (it keeps a pid file per service), ``status`` checks each service's health.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis

from catalog.db import ensure_database
from catalog.migrate import upgrade
from config.settings import DEV_API_SECRET, REPO_ROOT, Settings
from jobs.ingest import GPU_POOL
from reelflow.container import airflow_pythonpath
from reelflow.s3server import pid_alive, port_in_use, s3_ready, start_seaweed, stop_process_group, wait_ready

VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
LOG_SERVER_HOST_ENV = "REELFLOW_AIRFLOW_LOG_SERVER_HOST"  # read by reelflow/airflow_config/airflow_local_settings
Log = Callable[[str], None]


@dataclass
class ServiceStatus:
    name: str
    healthy: bool
    url: str
    pid: int | None
    managed: bool  # started by this stack (down will stop it)
    detail: str = ""


def local_api_secret(settings: Settings) -> str:
    """The secret the local stack's API signs with: the configured one, or, instead of the default published
    in the repository, a random one generated once per home and kept there (owner-only) for the stack and
    the CLI (``reelflow token``) to share."""
    if settings.api_secret != DEV_API_SECRET:
        return settings.api_secret
    home = settings.home.expanduser().resolve()
    secret_file = home / "api_secret"
    if not secret_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        secret_file.touch(mode=0o600)
        secret_file.write_text(secrets.token_urlsafe(48))
    return secret_file.read_text().strip()


class StackError(RuntimeError):
    pass


class Stack:
    SERVICES = ("postgres", "redis", "s3", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                "airflow-triggerer", "api", "edge")

    def __init__(self, settings: Settings, log: Log = print) -> None:
        self.log = log
        self.home = settings.home.expanduser().resolve()
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.airflow_home = self.home / "airflow"
        self.s = self._local(settings)

    def _local(self, settings: Settings) -> Settings:
        """The local stack is for development: development tokens on (unless REELFLOW_DEV_AUTH is set), and
        never the API secret published in the repository: one is generated per home and kept there."""
        update: dict[str, object] = {}
        if "REELFLOW_DEV_AUTH" not in os.environ:
            update["dev_auth"] = True
        if settings.api_secret == DEV_API_SECRET:
            update["api_secret"] = local_api_secret(settings)
        return settings.model_copy(update=update) if update else settings

    # ------------------------------------------------------------------ process bookkeeping
    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=cwd or self.home)
        self._pid_file(name).write_text(str(proc.pid))
        return proc.pid

    def _wait(self, name: str, check: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            pid_path = self._pid_file(name)
            if pid_path.exists() and self.pid(name) is None:
                tail = self._log_tail(name)
                raise StackError(f"{name} exited during start-up; last log lines:\n{tail}")
            time.sleep(0.5)
        raise StackError(f"{name} not healthy after {timeout_s:.0f} s; see {self.log_dir / (name + '.log')}\n"
                         f"{self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # ------------------------------------------------------------------ environment
    def settings_env(self) -> dict[str, str]:
        """The settings as REELFLOW_* variables, so every child sees exactly this configuration."""
        env = {}
        for name, value in self.s.model_dump().items():
            if value is None:
                continue
            env[f"REELFLOW_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
        env["REELFLOW_HOME"] = str(self.home)
        return env

    def airflow_env(self) -> dict[str, str]:
        api = urlsplit(self.s.airflow_url)
        secret_file = self.airflow_home / "jwt_secret"
        if not secret_file.exists():
            self.airflow_home.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_urlsafe(32))
        return {
            "PYTHONPATH": airflow_pythonpath(dict(os.environ)),
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.s.airflow_parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.s.airflow_url.rstrip('/')}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.s.airflow_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.airflow_home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.s.airflow_database_url,
            "AIRFLOW__API__HOST": api.hostname or "127.0.0.1",
            "AIRFLOW__API__PORT": str(api.port or 8080),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.s.airflow_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # Every listener on the loopback, as the module doc promises. Airflow's defaults are 0.0.0.0 for the
            # scheduler's health check and every interface for the log servers (which have no host setting:
            # airflow_local_settings binds them); the API server then fetches logs from the recorded hostname.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": LOOPBACK,
            LOG_SERVER_HOST_ENV: LOOPBACK,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_local_settings.loopback_hostname",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.settings_env())
        env.update(self.airflow_env())
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    # ------------------------------------------------------------------ individual services
    def _postgres_ok(self) -> bool:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.s.database_url).set(drivername="postgresql", database="postgres")
        try:
            with psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=3):
                return True
        except psycopg.Error:
            return False

    def ensure_postgres(self) -> None:
        if self._postgres_ok():
            return
        self.log("PostgreSQL is not answering; trying to start the local cluster")
        versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
        if not versions or not shutil.which("pg_ctlcluster"):
            raise StackError("PostgreSQL is not running and no local cluster is installed; run ./dev setup")
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"], check=False)
        self._wait("postgres", self._postgres_ok, 30)

    def _redis_ok(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.s.redis_url, socket_timeout=2).ping())
        except redis.RedisError:
            return False

    def ensure_redis(self) -> None:
        if self._redis_ok():
            return
        server = shutil.which("redis-server")
        if not server:
            raise StackError("Redis is not running and redis-server is not installed; run ./dev setup")
        port = urlsplit(self.s.redis_url).port or 6379
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.log(f"starting Redis on 127.0.0.1:{port}")
        self._spawn("redis", [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                              "--dir", str(data)], dict(os.environ))
        self._wait("redis", self._redis_ok, 20)

    def ensure_databases(self) -> None:
        for url in (self.s.database_url, self.s.airflow_database_url):
            if ensure_database(url):
                self.log(f"created database {url.rsplit('/', 1)[1]}")
        upgrade(self.s.database_url)

    def ensure_s3(self) -> None:
        if self.pid("s3") and s3_ready(self.s.s3_endpoint):
            return
        if s3_ready(self.s.s3_endpoint):
            self.log(f"an S3 server already answers at {self.s.s3_endpoint}; using it")
        else:
            port = urlsplit(self.s.s3_endpoint).port or 8333
            data = self.home / "s3"
            self.log(f"starting SeaweedFS S3 on {self.s.s3_endpoint}")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            proc = start_seaweed(data, port, self.s.s3_access_key, self.s.s3_secret_key, self.log_dir / "s3.log")
            self._pid_file("s3").write_text(str(proc.pid))
            wait_ready(self.s.s3_endpoint, proc, timeout_s=60)
        from config.clients import origin_store

        origin_store(self.s).ensure_buckets(self.s.raw_bucket, self.s.vod_bucket, self.s.cold_bucket)

    def _airflow(self, *args: str) -> list[str]:
        return [str(VENV_BIN / "airflow"), *args]

    def _airflow_healthy(self) -> bool:
        try:
            r = httpx.get(f"{self.s.airflow_url}/api/v2/monitor/health", timeout=3)
            return r.status_code == 200 and r.json().get("scheduler", {}).get("status") == "healthy"
        except (httpx.HTTPError, ValueError):
            return False

    def _api_server_up(self) -> bool:
        try:
            return httpx.get(f"{self.s.airflow_url}/api/v2/monitor/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def ensure_airflow(self) -> None:
        env = self.child_env()
        (self.airflow_home / "passwords.json").write_text(json.dumps({self.s.airflow_user: self.s.airflow_password}))
        services = ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
        if all(self.pid(n) for n in services) and self._airflow_healthy():
            return
        self.log("migrating the Airflow metadata database")
        result = subprocess.run(self._airflow("db", "migrate"), env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        result = subprocess.run(self._airflow("pools", "set", GPU_POOL, str(self.s.gpu_pool_slots),
                                              "NVENC transcodes (concurrent GPU encode sessions)"),
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"creating the Airflow pool {GPU_POOL} failed:\n{result.stderr[-2000:]}")
        for name in services:
            if self.pid(name):
                continue
            port = urlsplit(self.s.airflow_url).port or 8080
            if name == "airflow-api-server" and port_in_use("127.0.0.1", port):
                raise StackError(f"port {port} is taken by another program; set REELFLOW_AIRFLOW_URL to a free port")
            self.log(f"starting {name}")
            self._spawn(name, self._airflow(name.removeprefix("airflow-")), env)
        self._wait("airflow-api-server", self._api_server_up, 120)
        self._wait("airflow-scheduler", self._airflow_healthy, 120)
        self._wait("airflow-dag-processor", self._dag_registered, 180)

    def _dag_registered(self) -> bool:
        from adapters.airflow_api import AirflowClient, PipelineUnavailable
        from jobs.pipeline import INGEST_DAG

        client = AirflowClient(self.s.airflow_url, self.s.airflow_user, self.s.airflow_password)
        try:
            return client.ensure_unpaused(INGEST_DAG)
        except PipelineUnavailable:
            return False
        finally:
            client.close()

    def _http_ok(self, url: str) -> bool:
        try:
            return httpx.get(url, timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def ensure_api(self) -> None:
        url = f"{self.s.api_url}/healthz"
        if self.pid("api") and self._http_ok(url):
            return
        if port_in_use(self.s.api_host, self.s.api_port):
            raise StackError(f"port {self.s.api_port} is taken by another program; set REELFLOW_API_PORT")
        self.log(f"starting the feed API on {self.s.api_url}")
        self._spawn("api", [sys.executable, "-m", "uvicorn", "feed_api.app:create_app", "--factory", "--host",
                            self.s.api_host, "--port", str(self.s.api_port), "--workers", "1",
                            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                            # Event streams last up to 30 min: a stop closes them after 5 s (clients reconnect).
                            "--timeout-graceful-shutdown", "5",
                            # The edge forwards /v1 from loopback with the client's address in X-Forwarded-For:
                            # trusted from there only, so per-IP rate limits see the real clients.
                            "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1,::1"], self.child_env(),
                    cwd=REPO_ROOT)
        self._wait("api", lambda: self._http_ok(url), 60)

    def app_url(self) -> str:
        """The web app: the edge serves it at / and forwards /v1 to the API (docs/web.md)."""
        return self.s.edge_public_url.rstrip("/") + "/"

    def edge_tcp_url(self) -> str:
        return f"http://{self.s.edge_host}:{self.s.edge_port}/healthz"

    def ensure_edge(self) -> None:
        if self.pid("edge") and self._http_ok(self.edge_tcp_url()):
            return
        if port_in_use(self.s.edge_host, self.s.edge_port):
            raise StackError(f"port {self.s.edge_port} is taken by another program; set REELFLOW_EDGE_PORT")
        self.log(f"starting the HTTP/3 edge on {self.s.edge_public_url} (udp+tcp {self.s.edge_port})")
        self._spawn("edge", [sys.executable, "-m", "reelflow.cli", "edge", "serve"], self.child_env(), cwd=REPO_ROOT)
        self._wait("edge", lambda: self._http_ok(self.edge_tcp_url()), 30)

    # ------------------------------------------------------------------ public face
    def forget_exited(self) -> list[str]:
        """Drop the pid files of processes that have exited (status reports them down); what was dropped."""
        gone = [n for n in self.SERVICES if self._pid_file(n).exists() and self.pid(n) is None]
        for name in gone:
            self._pid_file(name).unlink(missing_ok=True)
        return gone

    def up(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.forget_exited()  # what up starts again writes a new one; what another program serves is external
        self.ensure_postgres()
        self.ensure_redis()
        self.ensure_databases()
        self.ensure_s3()
        self.ensure_airflow()
        self.ensure_api()
        self.ensure_edge()

    def down(self) -> list[str]:
        stopped = []
        for name in reversed(self.SERVICES):
            pid = self.pid(name)
            if pid:
                stop_process_group(pid, timeout_s=20)
                stopped.append(name)
            self._pid_file(name).unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceStatus]:
        a = self.s.airflow_url
        checks: list[tuple[str, Callable[[], bool], str]] = [
            ("postgres", self._postgres_ok, self.s.database_url.rsplit("@", 1)[-1]),
            ("redis", self._redis_ok, self.s.redis_url),
            ("s3", lambda: s3_ready(self.s.s3_endpoint), self.s.s3_endpoint),
            ("airflow-api-server", self._api_server_up, f"{a} (user {self.s.airflow_user})"),
            ("airflow-scheduler", self._airflow_healthy, a),
            ("airflow-dag-processor", lambda: self.pid("airflow-dag-processor") is not None, a),
            ("airflow-triggerer", lambda: self.pid("airflow-triggerer") is not None, a),
            ("api", lambda: self._http_ok(f"{self.s.api_url}/healthz"), self.s.api_url),
            ("edge", lambda: self._http_ok(self.edge_tcp_url()), f"{self.s.edge_public_url} (h3)"),
        ]
        out = []
        for name, check, url in checks:
            pid = self.pid(name)
            if self._pid_file(name).exists() and pid is None:
                # Started by this stack and gone. A probe can lag (the scheduler's heartbeat counts as healthy
                # for 30 s after it was killed); the process table does not.
                out.append(ServiceStatus(name, False, url, None, True, "its process has exited"))
            else:
                out.append(ServiceStatus(name, check(), url, pid, pid is not None))
        return out
