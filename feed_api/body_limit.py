"""The request body limit, enforced before routing and auth.

Every body the API takes is small JSON (video files go straight to S3), but FastAPI reads a route's whole
body before its dependencies run, so without a limit a 100 MiB body to an authenticated route is read in full
before the 401. Here a declared ``Content-Length`` over the limit is answered 413 at once, its body unread; a
body without one (chunked) is counted as it streams and cut off with 413 the moment it passes the limit.
One route may take more (``larger``: method and exact path -> bytes): the avatar upload's image body.
The 413 asks the server to close the connection (``Connection: close``), so the rest is never read; so does
any answer given before the request's body was read to its end (a route that takes no body, a 401 for one
without a token), or the server would read through the rest to reach the next request.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feed_api.errors import problem

CODE = "payload_too_large"


class BodyTooLarge(Exception):
    """Raised into the application by ``receive`` when the streamed body passes the limit."""


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses a malformed one before we see it; never ours to judge
                return None
    return None


def has_body(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b""))
               for name, value in scope["headers"])


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app, self.default_max = app, max_bytes
        self.larger = dict(larger or {})

    def limit(self, scope: Scope) -> int:
        return self.larger.get((scope.get("method", ""), scope.get("path", "")), self.default_max)

    @property
    def max_bytes(self) -> int:
        return self.default_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope)
        declared = declared_length(scope)
        if declared is not None and declared > max_bytes:
            await self.refuse(scope, receive, send, max_bytes)
            return
        received, cut, started, read_all = 0, False, False, not has_body(scope)

        async def counted() -> Message:
            nonlocal received, cut, read_all
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    cut = True
                    raise BodyTooLarge(f"request body over {max_bytes} bytes")
                read_all = not message.get("more_body", False)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if cut:  # the app's own answer to the failed read (FastAPI's is a 400) gives way to the 413
                return
            if message["type"] == "http.response.start" and not read_all:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not cut or started:
                raise
        if cut and not started:
            await self.refuse(scope, receive, send, max_bytes)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        detail = (f"the request body is over {max_bytes} bytes; the API takes small JSON bodies "
                  "(video files go to the upload URL)")
        response = problem(Request(scope), 413, CODE, detail, headers={"Connection": "close"})
        await response(scope, receive, send)
