"""A creator's side of the API: register (declaring the size), send the file in one PUT or in parts, complete,
wait until ready or failed. A multipart upload interrupted by a dropped connection resumes from a small state
file: a second call sends only the parts the object store lacks."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

PART_TRIES = 3  # per part, on a dropped connection, before giving up (the state file keeps what was sent)
Progress = Callable[[int, int], None]  # (bytes stored, total)
TERMINAL_EVENTS = ("ready", "rejected", "failed")  # the API's status stream ends after these


class ApiClientError(RuntimeError):
    pass


class _UrlRefused(ApiClientError):
    """The object store refused a presigned URL as expired."""


class UploadInterrupted(ApiClientError):
    """The connection to the object store failed; what was stored stays, and the same upload call resumes."""


def state_path(state_dir: Path, api_url: str, path: Path) -> Path:
    """Where an upload of ``path`` keeps its state: one file per API, file and version of the file (size and
    modification time), so an edited file starts over instead of mixing old and new parts."""
    st = path.stat()
    ident = f"{api_url.rstrip('/')}\n{path.resolve()}\n{st.st_size}\n{st.st_mtime_ns}"
    return state_dir / f"{hashlib.sha256(ident.encode()).hexdigest()[:24]}.json"


def _write_state(file: Path, state: dict) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(file)  # never a half-written state file after a crash


def _read_state(file: Path) -> dict | None:
    try:
        state = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("video_id"), str) else None


class ReelflowClient:
    """``token``: a bearer token; default ``$REELFLOW_TOKEN``, else a development token for ``handle``
    (POST /v1/auth/dev-token, on by default in local stacks), fetched on first use."""

    def __init__(self, api_url: str, *, timeout_s: float = 30, token: str | None = None,
                 handle: str = "creator", http: httpx.Client | None = None,
                 storage_http: httpx.Client | None = None) -> None:
        self.http = http or httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout_s)
        self.api_url = api_url.rstrip("/")
        self.storage = storage_http or httpx.Client(timeout=120)  # presigned URLs of the object store
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
        self.storage.close()

    @staticmethod
    def _json(resp: httpx.Response) -> dict:
        if resp.status_code >= 400:
            raise ApiClientError(f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def upload(self, path: Path, *, caption: str = "", hashtags: list[str] | None = None,
               state_dir: Path | None = None, progress: Progress | None = None) -> dict:
        """Register the video with the file's size, send the file (one PUT, or the parts of a multipart upload
        when the API asks for them), complete it; the video as the API sees it. With ``state_dir``, a call for
        the same file after an interruption resumes the same video and sends only what is missing."""
        self._authorize()
        path = Path(path)
        size = path.stat().st_size
        state_file = state_path(state_dir, self.api_url, path) if state_dir is not None else None
        resumed = self._resume(state_file) if state_file is not None else None
        if resumed is not None and "upload" not in resumed:
            return resumed["video"]  # completed by the interrupted call: its answer was what got lost
        if resumed is None:
            if not size:
                raise ApiClientError(f"{path} is empty: there is nothing to upload")
            body = {"caption": caption, "hashtags": hashtags or [], "size_bytes": size}
            resumed = self._json(self.http.post("/v1/videos", json=body))
            if state_file is not None:
                multipart = resumed["upload"].get("multipart") or {}
                _write_state(state_file, {"video_id": resumed["video"]["id"], "file": str(path.resolve()),
                                          "size": size, "upload_id": multipart.get("upload_id"),
                                          "part_size": multipart.get("part_size")})
        video_id = resumed["video"]["id"]
        self._send(path, video_id, resumed["upload"], size, progress)
        resp = self.http.post(f"/v1/videos/{video_id}/complete")
        if state_file is not None and resp.status_code < 400:
            state_file.unlink(missing_ok=True)  # on a failure the next call's resume finds out what is left
        return self._json(resp)

    def _resume(self, state_file: Path) -> dict | None:
        """``{"video", "upload"}`` to continue an interrupted upload, ``{"video"}`` when it was completed
        already, None when there is nothing to resume (no state, or the video cannot take its file any more)."""
        state = _read_state(state_file)
        if state is None:
            return None
        video_id = state["video_id"]
        resp = self.http.get(f"/v1/videos/{video_id}/upload")
        if resp.status_code == 200:
            upload = resp.json()
            if (upload.get("multipart") or {}).get("upload_id") == state.get("upload_id"):
                return {"video": {"id": video_id}, "upload": upload}
        elif resp.status_code == 409 and _code(resp) == "invalid_state":
            video = self.video(video_id)
            if video["state"] in ("processing", "playable", "ready"):
                state_file.unlink(missing_ok=True)
                return {"video": video}
        state_file.unlink(missing_ok=True)  # deleted, failed, aborted, someone else's: start over
        return None

    def _send(self, path: Path, video_id: str, upload: dict, size: int, progress: Progress | None) -> None:
        report = progress or (lambda done, total: None)
        multipart = upload.get("multipart")
        if not multipart:
            report(0, size)
            body = path.read_bytes()
            try:
                self._put(upload["url"], body, what="the file")
            except _UrlRefused:
                self._put(self._fresh_url(video_id, None), body, what="the file", refresh=False)
            report(size, size)
            return
        done = sum(p["size_bytes"] for p in multipart["uploaded"])
        report(done, size)
        parts, count = {p["part_number"]: p for p in multipart["parts"]}, multipart["part_count"]
        with open(path, "rb") as f:
            for number in sorted(parts):
                f.seek((number - 1) * multipart["part_size"])
                body = f.read(parts[number]["size_bytes"])
                try:
                    self._put(parts[number]["url"], body, what=f"part {number} of {count}")
                except _UrlRefused:
                    # Expired while earlier parts went up (slow link, long pause): ask for a fresh URL once.
                    self._put(self._fresh_url(video_id, number), body, what=f"part {number} of {count}",
                              refresh=False)
                done += len(body)
                report(done, size)

    def _fresh_url(self, video_id: str, part_number: int | None) -> str:
        upload = self._json(self.http.get(f"/v1/videos/{video_id}/upload"))
        if part_number is None:
            return upload["url"]
        return next(p["url"] for p in upload["multipart"]["parts"] if p["part_number"] == part_number)

    def _put(self, url: str, body: bytes, *, what: str, refresh: bool = True) -> None:
        for attempt in range(PART_TRIES):
            try:
                resp = self.storage.put(url, content=body)
            except httpx.TransportError as exc:
                if attempt + 1 == PART_TRIES:
                    raise UploadInterrupted(f"sending {what} failed ({exc!r}); what was stored is kept: "
                                            "upload the same file again to resume") from exc
                time.sleep(0.5 * 2**attempt)
                continue
            if resp.status_code in (200, 201, 204):
                return
            if resp.status_code == 403 and refresh and b"AccessDenied" in resp.content:
                raise _UrlRefused(what)
            raise ApiClientError(f"PUT of {what} failed with {resp.status_code}: {resp.text[:300]}")

    def delete(self, video_id: str) -> None:
        """Delete a video of ours: gone from feeds at once; origin objects and CDN copies follow shortly."""
        self._authorize()
        resp = self.http.delete(f"/v1/videos/{video_id}")
        if resp.status_code != 204:
            raise ApiClientError(f"DELETE /v1/videos/{video_id} -> {resp.status_code}: {resp.text}")

    def video(self, video_id: str) -> dict:
        self._authorize()  # the creator sees their video in every state; others only once it is ready
        return self._json(self.http.get(f"/v1/videos/{video_id}"))

    def events(self, video_id: str, *, after: int = 0, timeout_s: float = 600) -> Iterator[dict]:
        """The video's processing events as they happen (the API's Server-Sent Events stream), each the
        event's data plus its ``id``; reconnects with Last-Event-ID when the server ends a stream early, and
        stops after ready, rejected or failed (or when the server says there is nothing more)."""
        self._authorize()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.http.stream("GET", f"/v1/videos/{video_id}/events", params={"after": after},
                                  timeout=httpx.Timeout(30, read=60)) as resp:
                if resp.status_code == 204:
                    return
                if resp.status_code >= 400:
                    resp.read()
                    self._json(resp)
                event: dict[str, str] = {}
                for line in resp.iter_lines():
                    if line:
                        field, _, value = line.partition(":")
                        event[field] = value.removeprefix(" ")
                        continue
                    if "data" in event:  # a blank line ends an event; comments and retry: carry no data
                        data = {**json.loads(event["data"]), "id": int(event["id"])}
                        after = data["id"]
                        yield data
                        if data["kind"] in TERMINAL_EVENTS:
                            return
                    event = {}
        raise TimeoutError(f"video {video_id}: no terminal event within {timeout_s:.0f} s")

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


def _code(resp: httpx.Response) -> str | None:
    try:
        return resp.json().get("code")
    except ValueError:
        return None
