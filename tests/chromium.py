"""Drive Debian's headless Chromium over the DevTools protocol (websockets; no browser-automation package).

Used by the web-player test: open a page, watch the network (which protocol each response came over),
and evaluate JavaScript until a condition holds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    ws: ClientConnection
    responses: list[dict] = field(default_factory=list)  # Network.responseReceived "response" objects
    _next_id: int = 0

    def call(self, method: str, params: dict | None = None, timeout_s: float = 30) -> dict:
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("method") == "Network.responseReceived":
                self.responses.append(message["params"]["response"])
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float) -> object:
        """Poll ``expression`` until it is truthy; the last value is in the error if it never is."""
        deadline, value = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{expression!r} still falsy after {timeout_s} s (last: {value!r})")


@contextmanager
def chromium_page(*, quic_origins: tuple[str, ...] = (), spki_pins: tuple[str, ...] = ()) -> Iterator[Page]:
    """A blank page in a fresh headless Chromium; ``quic_origins`` (host:port) are spoken to over h3 only."""
    if CHROMIUM is None:
        raise FileNotFoundError("chromium is not installed (./dev setup installs it)")
    # Chromium's helper processes may still be writing the profile as it exits; cleanup must not fail the test.
    with tempfile.TemporaryDirectory(prefix="reelflow-chromium-", ignore_cleanup_errors=True) as profile:
        args = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
        if quic_origins:
            args += ["--enable-quic", f"--origin-to-force-quic-on={','.join(quic_origins)}"]
        if spki_pins:  # trust the edge's self-signed certificate, and only it
            args.append(f"--ignore-certificate-errors-spki-list={','.join(spki_pins)}")
        proc = subprocess.Popen([*args, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)  # its own process group, so all of it can be stopped
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
            port = int(port_file.read_text().splitlines()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                target = next(t for t in json.load(resp) if t["type"] == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                page = Page(ws)
                page.call("Network.enable")
                page.call("Page.enable")
                yield page
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM Chromium and every helper process it started, then SIGKILL what is left after 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            time.sleep(0.2)  # let the helpers that got the same signal exit too
            os.killpg(proc.pid, 0)  # raises once the whole group is gone
        except (subprocess.TimeoutExpired, PermissionError):
            continue
        except ProcessLookupError:
            return
