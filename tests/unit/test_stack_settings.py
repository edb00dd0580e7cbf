"""The local stack is development: it turns development tokens on and never runs on the published secret."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time

from config.settings import DEV_API_SECRET, REPO_ROOT, Settings, insecure_api_settings
from reelflow.container import AIRFLOW_CONFIG_DIR
from reelflow.s3server import stop_process_group
from reelflow.stack import Stack
from tests.sockets import descendants, listening


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_local_stack_generates_its_own_secret_and_turns_dev_auth_on(tmp_path, monkeypatch):
    monkeypatch.delenv("REELFLOW_DEV_AUTH", raising=False)
    monkeypatch.delenv("REELFLOW_API_SECRET", raising=False)
    stack = Stack(Settings(home=tmp_path, dev_auth=False), log=lambda _: None)
    assert stack.s.dev_auth is True
    assert stack.s.api_secret != DEV_API_SECRET and len(stack.s.api_secret) >= 32
    secret_file = tmp_path / "api_secret"
    assert secret_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    # The same home keeps its secret (tokens survive a restart); the children get it through their env.
    again = Stack(Settings(home=tmp_path), log=lambda _: None)
    assert again.s.api_secret == stack.s.api_secret
    assert again.settings_env()["REELFLOW_API_SECRET"] == stack.s.api_secret
    assert again.settings_env()["REELFLOW_DEV_AUTH"] == "True"


def test_an_explicit_choice_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("REELFLOW_DEV_AUTH", "false")
    chosen = "c" * 40
    stack = Stack(Settings(home=tmp_path, api_secret=chosen), log=lambda _: None)
    assert (stack.s.dev_auth, stack.s.api_secret) == (False, chosen)
    assert not (tmp_path / "api_secret").exists()


def test_what_counts_as_insecure():
    assert insecure_api_settings(Settings(dev_auth=True)) is None  # development: tokens are free anyway
    assert "published" in insecure_api_settings(Settings(dev_auth=False))
    assert "at least 32" in insecure_api_settings(Settings(dev_auth=False, api_secret="x" * 20))
    assert insecure_api_settings(Settings(dev_auth=False, api_secret="x" * 32)) is None


def _stack_airflow_env(tmp_path) -> dict[str, str]:
    return Stack(Settings(home=tmp_path), log=lambda _: None).airflow_env()


def test_every_airflow_listener_of_the_stack_is_on_the_loopback(tmp_path, monkeypatch):
    """Airflow's log servers and the scheduler's health check used to listen on every interface (0.0.0.0)."""
    env = _stack_airflow_env(tmp_path)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"] == "127.0.0.1"
    assert env["REELFLOW_AIRFLOW_LOG_SERVER_HOST"] == "127.0.0.1"
    # The API server fetches a running task's log from the hostname the task recorded: the loopback too.
    monkeypatch.syspath_prepend(str(AIRFLOW_CONFIG_DIR))
    module, _, name = env["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")
    assert getattr(importlib.import_module(module), name)() == "127.0.0.1"


SERVE = {
    "log server": "import sys; sys.argv = ['airflow', 'triggerer']; import airflow_local_settings; "
                  "from airflow.utils.serve_logs import serve_logs; serve_logs()",
    "health check": "from airflow.utils.scheduler_health import serve_health_check; serve_health_check()",
}


def test_airflow_s_log_server_and_health_check_listen_on_the_loopback_only(tmp_path):
    """The servers themselves, started as the scheduler and triggerer start them, under the stack's env."""
    ports = {"log server": free_port(), "health check": free_port()}
    env = {**os.environ, **_stack_airflow_env(tmp_path), "PYTHONPATH": os.pathsep.join(
        [str(AIRFLOW_CONFIG_DIR), str(REPO_ROOT)]), "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["log server"]),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports["health check"])}
    procs = {name: subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True) for name, code in SERVE.items()}
    try:
        deadline = time.monotonic() + 90
        found: dict[str, set[tuple[str, int]]] = {}
        while time.monotonic() < deadline and len(found) < len(procs):
            for name, proc in procs.items():
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                if addresses := {a for a in listening(descendants(proc.pid)) if a[1] == ports[name]}:
                    found[name] = addresses
            time.sleep(0.3)
        assert found == {name: {("127.0.0.1", port)} for name, port in ports.items()}
    finally:
        for proc in procs.values():
            stop_process_group(proc.pid)


def test_status_reports_a_killed_scheduler_down_at_once(tmp_path, monkeypatch):
    """``stack status`` used to trust the scheduler's heartbeat alone, which stays fresh for 30 s after a kill."""
    stack = Stack(Settings(home=tmp_path), log=lambda _: None)
    for probe in ("_postgres_ok", "_redis_ok", "_api_server_up", "_airflow_healthy", "_http_ok"):
        monkeypatch.setattr(stack, probe, lambda *a: True)  # every probe answers: the heartbeat is fresh
    monkeypatch.setattr("reelflow.stack.s3_ready", lambda *a: True)
    live = subprocess.Popen(["sleep", "60"], start_new_session=True)
    killed = subprocess.Popen(["sleep", "60"], start_new_session=True)
    killed.kill()
    killed.wait()
    try:
        stack.run_dir.mkdir(parents=True)
        stack._pid_file("airflow-scheduler").write_text(str(live.pid))
        stack._pid_file("airflow-triggerer").write_text(str(live.pid))
        rows = {r.name: r for r in stack.status()}
        assert rows["airflow-scheduler"].healthy and rows["airflow-scheduler"].pid == live.pid
        assert rows["api"].healthy and not rows["api"].managed  # not started by this stack: the probe decides

        stack._pid_file("airflow-scheduler").write_text(str(killed.pid))
        rows = {r.name: r for r in stack.status()}
        scheduler = rows["airflow-scheduler"]
        assert (scheduler.healthy, scheduler.managed, scheduler.pid) == (False, True, None)
        assert "exited" in scheduler.detail and rows["airflow-triggerer"].healthy
        # up forgets it (and starts a new one): a pid file is only as good as its process
        assert stack.forget_exited() == ["airflow-scheduler"] and stack.forget_exited() == []
    finally:
        live.kill()
        live.wait()
