"""The edge's admin API, as the API's deletes and ``reelflow purge`` speak to it."""

from __future__ import annotations

from typing import Protocol

import httpx


class PurgeFailed(RuntimeError):
    pass


class Purger(Protocol):
    def purge_video(self, video_id: str) -> None:
        """Drop every cached object of the video from the CDN. Raises PurgeFailed."""
        ...


class EdgePurger:
    """The edge's admin API on its HTTP/1.1 TCP listener: ``POST /admin/purge/{video}``.

    ``token`` is sent as ``Authorization: Bearer``; the edge requires it from every peer when it has one
    configured, and answers loopback peers only when it has none. ``""`` sends no token.
    """

    def __init__(self, admin_url: str, *, token: str = "", timeout_s: float = 3.0) -> None:
        self.admin_url = admin_url.rstrip("/")
        self._timeout = timeout_s
        self._headers = {"authorization": f"Bearer {token}"} if token else {}

    def purge_video(self, video_id: str) -> None:
        try:
            resp = httpx.post(f"{self.admin_url}/admin/purge/{video_id}", headers=self._headers,
                              timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise PurgeFailed(f"edge at {self.admin_url} is unreachable: {exc}") from exc
        if resp.status_code == 401:  # the operator's fix is a setting, so name it
            raise PurgeFailed(f"edge refused the purge (401: {resp.text.strip()[:200]}); REELFLOW_EDGE_ADMIN_TOKEN "
                              f"must be the same for the API and the edge"
                              + ("" if self._headers else ", and it is not set here"))
        if resp.status_code != 200:
            raise PurgeFailed(f"edge answered {resp.status_code} to the purge: {resp.text[:200]}")
