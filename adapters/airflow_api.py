"""Airflow's REST API (v2), just what Reelflow needs: trigger a DAG run and follow it."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import httpx


class PipelineUnavailable(RuntimeError):
    """Airflow could not be reached or refused the request."""


@dataclass(frozen=True)
class TaskRun:
    task_id: str
    state: str | None
    start_date: str | None
    end_date: str | None
    duration_s: float | None
    try_number: int
    map_label: str | None = None  # a mapped instance's rendered index, e.g. the codec

    @property
    def label(self) -> str:
        return f"{self.task_id}[{self.map_label}]" if self.map_label else self.task_id


class AirflowClient:
    def __init__(self, base_url: str, username: str, password: str, *, timeout_s: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._token: str | None = None
        self._token_at = 0.0

    def close(self) -> None:
        self._http.close()

    def _auth(self, refresh: bool = False) -> dict[str, str]:
        # Tokens last 24 h by default; refreshing hourly keeps clear of that without a call per request.
        if refresh or self._token is None or time.monotonic() - self._token_at > 3600:
            try:
                resp = self._http.post("/auth/token", json=self._credentials)
            except httpx.HTTPError as exc:
                raise PipelineUnavailable(f"Airflow at {self.base_url} is unreachable: {exc}") from exc
            if resp.status_code not in (200, 201):
                raise PipelineUnavailable(f"Airflow refused the login ({resp.status_code}): {resp.text[:200]}")
            self._token, self._token_at = resp.json()["access_token"], time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}

    def _request(self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: object) -> httpx.Response:
        for attempt in range(2):
            try:
                resp = self._http.request(method, path, headers=self._auth(refresh=attempt > 0), **kwargs)
            except httpx.HTTPError as exc:
                raise PipelineUnavailable(f"Airflow at {self.base_url} is unreachable: {exc}") from exc
            if resp.status_code != 401:
                break
        if resp.status_code >= 400 and resp.status_code not in allow:
            raise PipelineUnavailable(f"Airflow answered {resp.status_code} to {method} {path}: {resp.text[:300]}")
        return resp

    def trigger(self, dag_id: str, conf: dict, *, run_id_prefix: str = "api") -> str:
        now = datetime.now(UTC)
        run_id = f"{run_id_prefix}__{now.strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(3)}"
        if not self.trigger_run(dag_id, run_id, conf):  # 24 random bits within one second: never expected
            raise PipelineUnavailable(f"Airflow already has a run {run_id} of {dag_id}")
        return run_id

    def trigger_run(self, dag_id: str, run_id: str, conf: dict) -> bool:
        """Trigger with a run id of the caller's choosing; False if a run with that id already exists (the
        id is the idempotency key: a retried or resumed caller does not start the work twice)."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body, allow=(409,)).status_code != 409

    def run_states(self, dag_id: str, run_id_prefix: str, *, page: int = 100) -> dict[str, str]:
        """{run id: state} of every run of ``dag_id`` whose id starts with ``run_id_prefix``."""
        states: dict[str, str] = {}
        offset = 0
        while True:
            params = {"run_id_prefix_pattern": run_id_prefix, "limit": page, "offset": offset, "order_by": "id"}
            data = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params).json()
            runs = data.get("dag_runs", [])
            states.update({r["dag_run_id"]: r["state"] for r in runs})
            offset += len(runs)
            if not runs or offset >= int(data.get("total_entries", 0)):
                return {k: v for k, v in states.items() if k.startswith(run_id_prefix)}

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()["state"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()

    def task_runs(self, dag_id: str, run_id: str) -> list[TaskRun]:
        data = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances").json()
        return [TaskRun(t["task_id"], t.get("state"), t.get("start_date"), t.get("end_date"), t.get("duration"),
                        t.get("try_number", 0), t.get("rendered_map_index")) for t in data.get("task_instances", [])]

    def count_runs(self, dag_id: str, states: tuple[str, ...] = ("queued", "running")) -> int:
        """How many runs of ``dag_id`` are in ``states`` (the pipeline's queue depth)."""
        params = [("state", st) for st in states] + [("limit", "1")]
        return int(self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params).json()["total_entries"])

    def ensure_unpaused(self, dag_id: str) -> bool:
        """True once Airflow knows ``dag_id``, unpausing it if needed; False while it is not parsed yet."""
        try:
            dag = self._request("GET", f"/api/v2/dags/{dag_id}").json()
        except PipelineUnavailable:
            return False
        if dag.get("is_paused"):
            self._request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        return True

    def healthy(self) -> bool:
        try:
            return self._http.get("/api/v2/monitor/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False
