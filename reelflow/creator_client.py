"""A creator's side of the API: register, PUT the file, complete, wait until ready or failed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx


class ApiClientError(RuntimeError):
    pass


class ReelflowClient:
    """``token``: a bearer token; default ``$REELFLOW_TOKEN``, else a development token for ``handle``
    (POST /v1/auth/dev-token, on by default in local stacks), fetched on first use."""

    def __init__(self, api_url: str, *, timeout_s: float = 30, token: str | None = None,
                 handle: str = "creator") -> None:
        self.http = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout_s)
        self._token = token or os.environ.get("REELFLOW_TOKEN") or None
        self.handle = handle

    def _authorize(self) -> None:
        if "Authorization" in self.http.headers:
            return
        if self._token is None:
            resp = self.http.post("/v1/auth/dev-token", json={"handle": self.handle})
            if resp.status_code != 200:
                raise ApiClientError(f"no token: set REELFLOW_TOKEN (development tokens answered "
                                     f"{resp.status_code}: {resp.text[:200]})")
            self._token = resp.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self._token}"

    def close(self) -> None:
        self.http.close()

    def _json(self, resp: httpx.Response) -> dict:
        if resp.status_code >= 400:
            raise ApiClientError(f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def upload(self, path: Path, *, caption: str = "", hashtags: list[str] | None = None) -> dict:
        """Create the video, PUT the file to its presigned URL, complete it; the video as the API sees it."""
        self._authorize()
        created = self._json(self.http.post("/v1/videos", json={"caption": caption, "hashtags": hashtags or []}))
        with open(path, "rb") as f:
            put = httpx.put(created["upload"]["url"], content=f.read(), timeout=120)
        if put.status_code not in (200, 201, 204):
            raise ApiClientError(f"upload PUT failed with {put.status_code}: {put.text[:300]}")
        return self._json(self.http.post(f"/v1/videos/{created['video']['id']}/complete"))

    def delete(self, video_id: str) -> None:
        """Delete a video of ours: gone from feeds at once; origin objects and CDN copies follow shortly."""
        self._authorize()
        resp = self.http.delete(f"/v1/videos/{video_id}")
        if resp.status_code != 204:
            raise ApiClientError(f"DELETE /v1/videos/{video_id} -> {resp.status_code}: {resp.text}")

    def video(self, video_id: str) -> dict:
        self._authorize()  # the creator sees their video in every state; others only once it is ready
        return self._json(self.http.get(f"/v1/videos/{video_id}"))

    def wait_settled(self, video_id: str, *, timeout_s: float = 600, poll_s: float = 0.5,
                     on_poll: Callable[[dict], None] | None = None) -> dict:
        """Poll until the video is ready or failed."""
        deadline = time.monotonic() + timeout_s
        while True:
            video = self.video(video_id)
            if on_poll:
                on_poll(video)
            if video["state"] in ("ready", "failed"):
                return video
            if time.monotonic() > deadline:
                raise TimeoutError(f"video {video_id} still {video['state']} after {timeout_s:.0f} s")
            time.sleep(poll_s)
