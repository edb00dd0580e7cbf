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


class PushFailed(RuntimeError):
    pass


class EdgePusher:
    """The edge's ``POST /admin/push`` (pre-warming): HLS starts of videos into chosen POPs' caches.

    Same address and token rules as :class:`EdgePurger`.
    """

    def __init__(self, admin_url: str, *, token: str = "", timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.admin_url = admin_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(timeout=timeout_s, transport=transport)

    def push_hls(self, playlists: list[str], *, pops: list[str] | None = None, segments: int = 2,
                 variants: int | None = 1, views: float = 0.0) -> dict:
        """Push each master's first ``variants`` variant streams (and audio): playlists, init segments and
        first ``segments`` segments. ``playlists`` are ``/<bucket>/<key>``. The edge's report (fetched,
        already_fresh, bytes, missing, errors). Raises PushFailed."""
        body: dict[str, object] = {"playlists": playlists, "segments": segments, "views": views}
        if pops is not None:
            body["pops"] = pops
        if variants is not None:
            body["variants"] = variants
        try:
            resp = self._http.post(f"{self.admin_url}/admin/push", json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise PushFailed(f"edge at {self.admin_url} is unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise PushFailed(f"edge answered {resp.status_code} to the push: {resp.text[:200]}")
        return resp.json()

    def close(self) -> None:
        self._http.close()
