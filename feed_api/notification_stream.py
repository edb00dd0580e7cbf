"""``GET /v1/me/notifications/stream``: the caller's notifications, live, as Server-Sent Events.

On connect: ``event: unread`` (``{"unread": n}``), then the notifications after ``Last-Event-ID`` (or
``?after=``) if the client names one (a reconnect), each as ``id: <notification id>`` + ``event: notification``
with the same JSON as an item of ``GET /v1/me/notifications``; then every new one as it is committed, each
followed by a fresh ``unread``. ``unread`` carries no ``id:``, so it never moves the point a client resumes
from. A ``: keep-alive`` comment every 15 s; the stream ends after ``MAX_STREAM_S`` and the client resumes with
``Last-Event-ID``, missing nothing and getting nothing twice (ids are the cursor).

Waiting is PostgreSQL LISTEN/NOTIFY (``catalog.listener``): one LISTEN connection per API process, shared by all
of its open streams, so it works with any number of processes (each hears every commit) and holds no pooled
connection per open stream. A NOTIFY only wakes the stream, which then reads by id through a pooled session
closed before it waits again; at every keep-alive it reads anyway, and every ``FALLBACK_POLL_S`` while the
listener is reconnecting, so a lost NOTIFY costs latency, never an item.

Auth: ``Authorization: Bearer`` (apps, and browsers that read the stream with ``fetch``), or, for a browser's
``EventSource``, which cannot send headers, ``?access_token=``: a stream token from ``POST
/v1/me/notifications/stream-token`` (this route only, 5 minutes), or an API token. A token in a URL can end up
in proxy logs and the browser's history, which is why the stream token exists; see docs/notifications.md.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from catalog import notifications as repo
from catalog.db import session_scope
from catalog.listener import Listener, libpq_url
from feed_api import event_stream as sse
from feed_api.deps import UNAUTHORIZED, check_session, required_user
from feed_api.errors import ApiError
from feed_api.notifications import items
from feed_api.rate_limits import rate_limit
from feed_api.services import Services
from feed_api.tokens import AUDIENCE, STREAM_AUDIENCE, TokenError

router = APIRouter(prefix="/v1/me", tags=["me"])

KEEPALIVE_S = 15.0  # under common proxies' idle timeouts (30-60 s); also when the stream re-reads regardless
FALLBACK_POLL_S = 2.0  # how often to read while the listener is not connected
MAX_STREAM_S = 1800.0  # bounds what one request holds; the client resumes from Last-Event-ID
RETRY_MS = 2000
BATCH = 100
MAX_ID = 2**63 - 1

_listeners: dict[str, Listener] = {}
_listeners_lock = threading.Lock()

RESPONSES: dict[int | str, dict] = {
    200: {"description": "the event stream: `event: unread` with `{\"unread\": n}` (no id), `id: <notification "
                         "id>` + `event: notification` with the list's item JSON, and a `: keep-alive` comment "
                         "every 15 s",
          # Per event, as SSE-aware clients and checkers read the stream (OpenAPI 3.2 calls it itemSchema).
          "content": {sse.MEDIA_TYPE: {"schema": {"type": "object", "properties": {
              "event": {"type": "string", "enum": ["unread", "notification"]},
              "id": {"type": "string", "description": "notification events only: the notification's id"},
              "data": {"type": "string", "description": "JSON: {\"unread\": n}, or a notification as listed"}},
              "required": ["event", "data"]}}}},
    401: {"description": "no or bad token (header or access_token)"},
    429: {"description": "rate limited; retry after Retry-After"},
    503: {"description": "overloaded; retry after Retry-After"},
}


def listener(svc: Services) -> Listener:
    """This process's listener for the catalog's database (one per database, whatever the number of apps)."""
    dsn = libpq_url(svc.sessions.kw["bind"].url.render_as_string(hide_password=False))
    with _listeners_lock:
        found = _listeners.get(dsn)
        if found is None:
            found = _listeners[dsn] = Listener(dsn, repo.CHANNEL)
        return found


async def _user(svc: Services, authorization: str | None, access_token: str | None) -> str:
    if authorization:
        return await required_user(svc, authorization)
    if not access_token:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>, or ?access_token= with a token "
                                               "from POST /v1/me/notifications/stream-token", headers=UNAUTHORIZED)
    try:
        claims = svc.tokens.claims(access_token, audiences=(STREAM_AUDIENCE, AUDIENCE))
    except TokenError as exc:
        raise ApiError(401, "invalid_token", str(exc), headers=UNAUTHORIZED) from exc
    await check_session(svc, claims)  # signed out everywhere: the stream closes to its tokens too
    return claims.user_id


@dataclass(frozen=True)
class Read:
    unread: int
    items: list[tuple[int, dict]]  # (id, item JSON), oldest first


def _read(svc: Services, user: str, after: int) -> Read:
    with session_scope(svc.sessions) as s:
        rows = repo.for_user(s, user, after_id=after, limit=BATCH)
        return Read(repo.unread_count(s, user), [(n.id, n.model_dump(mode="json")) for n in items(s, svc, rows)])


def _start(svc: Services, user: str, after: int | None) -> int:
    """Where the stream starts: after the client's cursor, or after the newest notification (a fresh client
    lists the past with GET /v1/me/notifications)."""
    if after is not None:
        return after
    with session_scope(svc.sessions) as s:
        return repo.latest_id(s, user)


async def _follow(svc: Services, user: str, after: int) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    hub = listener(svc)
    # Subscribed before the first read: a commit between the two wakes us, so nothing falls in the gap.
    sub = hub.subscribe(user, lambda: loop.call_soon_threadsafe(woken.set))
    started = last_write = time.monotonic()
    try:
        yield sse.retry(RETRY_MS)
        read = await run_in_threadpool(_read, svc, user, after)
        yield sse.format_event(None, "unread", {"unread": read.unread})
        unread = read.unread
        while True:
            for item_id, item in read.items:
                yield sse.format_event(item_id, "notification", item)
                after = item_id
            if read.items or read.unread != unread:
                yield sse.format_event(None, "unread", {"unread": read.unread})
                unread = read.unread
                last_write = time.monotonic()
            if len(read.items) < BATCH:  # a full batch: more are waiting, read on at once
                now = time.monotonic()
                if now - started >= MAX_STREAM_S:
                    return
                wait = min(KEEPALIVE_S - (now - last_write), MAX_STREAM_S - (now - started))
                if not hub.listening:
                    wait = min(wait, FALLBACK_POLL_S)
                try:
                    await asyncio.wait_for(woken.wait(), timeout=max(0.0, wait))
                except TimeoutError:
                    if time.monotonic() - last_write >= KEEPALIVE_S:
                        yield sse.comment("keep-alive")
                        last_write = time.monotonic()
                woken.clear()  # cleared before the read: a wake during it reads again
            read = await run_in_threadpool(_read, svc, user, after)
    finally:
        hub.unsubscribe(sub)


@router.get("/notifications/stream", response_class=StreamingResponse, responses=RESPONSES,
            openapi_extra={"security": [{"HTTPBearer": []}]})
async def notification_stream(
        request: Request,
        access_token: Annotated[str | None, Query(max_length=4096, description="for EventSource, which cannot "
                                                  "send headers: a token from POST /v1/me/notifications/"
                                                  "stream-token (or an API token)")] = None,
        after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="resume after this notification id")] = None,
        last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID, description="what an EventSource sends when "
                                                    "it reconnects; wins over a lower `after`")] = None,
) -> StreamingResponse:
    """Your notifications as they happen, as Server-Sent Events: the unread count, then each new notification
    (the list's JSON), with `Last-Event-ID` to resume. Ends after 30 minutes (reconnect with Last-Event-ID)."""
    svc: Services = request.app.state.services
    user = await _user(svc, request.headers.get("authorization"), access_token)
    await rate_limit(svc, user)
    cursor = max(after or 0, last_event_id or 0) if after is not None or last_event_id is not None else None
    start = await run_in_threadpool(_start, svc, user, cursor)
    return StreamingResponse(_follow(svc, user, start), media_type=sse.MEDIA_TYPE,
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
