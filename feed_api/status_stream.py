"""``GET /v1/videos/{id}/events``: a creator follows a video's processing as Server-Sent Events.

The stream replays the video's events after the client's cursor (``Last-Event-ID``, or ``?after=``), then
follows new ones, and ends after a terminal event (ready, rejected, failed), after ``MAX_STREAM_S`` (the client
reconnects with ``Last-Event-ID`` and misses nothing), or when the video is deleted. A client that reconnects
after the end, with nothing left to send, gets 204, which tells an ``EventSource`` to stop reconnecting.

Waiting is polling, not LISTEN: every ``POLL_S`` the stream reads ``catalog.video_events.since`` in the
threadpool through a pooled session that is closed before it sleeps. LISTEN would need a connection held open
per watching creator (outside the pool, against ``max_connections``) or a shared per-process listener with its
own reconnect and fan-out logic; a poll is one indexed query, survives a database restart with no extra code
and never misses an event, since the ids are the cursor. The NOTIFY the catalog sends stays available for a
shared listener if the number of open streams ever makes two queries a second each too many.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from catalog import video_events as events_repo
from catalog.db import session_scope
from catalog.models import Privacy, Video, VideoState
from feed_api import event_stream as sse
from feed_api.deps import Svc, User
from feed_api.videos import OWNER_ERRORS, VideoId, load_own

router = APIRouter(prefix="/v1/videos", tags=["videos"])

POLL_S = 0.5  # how soon a new event reaches the creator, at one indexed query per open stream
KEEPALIVE_S = 15.0  # under the idle timeouts of common proxies and load balancers (often 30-60 s)
MAX_STREAM_S = 600.0  # bounds what one request holds; the client resumes from Last-Event-ID
RETRY_MS = 1000  # the reconnect delay we ask of EventSource (a lifetime close is routine, not a failure)
BATCH = 100
MAX_ID = 2**63 - 1  # video_events.id is a bigint
# States that no event follows until someone re-runs the pipeline: a stream with nothing pending ends there.
FINISHED_STATES = frozenset({VideoState.READY, VideoState.FAILED, VideoState.REMOVED})

STREAM_RESPONSES: dict[int | str, dict] = {
    200: {"description": "the event stream: `id: <event id>`, `event: <kind>`, `data: {\"kind\", \"video_id\", "
                         "\"at\", \"detail\"}`, and a `: keep-alive` comment every 15 s",
          "content": {sse.MEDIA_TYPE: {"schema": {"type": "string"}}}},
    204: {"description": "nothing more to send: processing has ended and the client has every event (an "
                         "EventSource stops reconnecting)"},
    **OWNER_ERRORS,
}


class EventStreamResponse(StreamingResponse):
    media_type = sse.MEDIA_TYPE


@dataclass(frozen=True)
class Poll:
    events: list[tuple[int, str, dict]]  # (id, kind, data) in id order
    finished: bool  # the video was ready or failed when read
    gone: bool = False  # deleted since the stream opened


def public_detail(detail: dict, url: Callable[[str], str]) -> dict:
    """An event's detail as a creator gets it (in the stream and in notifications): the catalog records
    object keys; the creator gets the edge URL the video plays from."""
    if "master_key" not in detail:
        return detail
    return {**{k: v for k, v in detail.items() if k != "master_key"}, "playback_url": url(detail["master_key"])}


def _events(s: Session, video_id: str, after: int, url: Callable[[str], str]) -> list[tuple[int, str, dict]]:
    return [(e.id, e.kind, sse.payload(video_id=video_id, kind=e.kind, at=e.created_at,
                                       detail=public_detail(e.detail, url)))
            for e in events_repo.since(s, video_id, after, limit=BATCH)]


def _first(sessions: sessionmaker[Session], video_id: str, user: str, after: int, url: Callable[..., str]) -> Poll:
    with session_scope(sessions) as s:
        video = load_own(s, video_id, user)  # 404 missing or deleted, 403 someone else's: before any byte
        # The state is read before the events: a terminal state commits with its event, so that event is seen.
        finished = video.state in FINISHED_STATES
        return Poll(_events(s, video_id, after, _urls_for(video, url)), finished)


def _urls_for(video: Video, url: Callable[..., str]) -> Callable[[str], str]:
    """The edge refuses a non-public video's objects without a playback token: sign those."""
    return functools.partial(url, signed=video.privacy != Privacy.PUBLIC)


def _poll(sessions: sessionmaker[Session], video_id: str, after: int, url: Callable[..., str]) -> Poll:
    with session_scope(sessions) as s:
        video = s.get(Video, video_id)
        if video is None or video.deleted_at is not None:
            return Poll([], finished=True, gone=True)
        finished = video.state in FINISHED_STATES
        return Poll(_events(s, video_id, after, _urls_for(video, url)), finished)


async def _follow(sessions: sessionmaker[Session], video_id: str, after: int, poll: Poll,
                  url: Callable[..., str]) -> AsyncIterator[str]:
    # Module constants are read here, at call time, so tests can shorten them.
    started = last_write = time.monotonic()
    yield sse.retry(RETRY_MS)
    while True:
        for event_id, kind, data in poll.events:
            yield sse.format_event(event_id, kind, data)
            after = event_id
        if poll.events:
            last_write = time.monotonic()
            if poll.events[-1][1] in events_repo.TERMINAL:
                return
        elif poll.finished:  # nothing pending and nothing will come (a deleted video is "finished" too)
            return
        if len(poll.events) < BATCH:  # a full batch means more are waiting: read on without sleeping
            now = time.monotonic()
            if now - started >= MAX_STREAM_S:
                return
            if now - last_write >= KEEPALIVE_S:
                yield sse.comment("keep-alive")
                last_write = now
            await asyncio.sleep(POLL_S)  # no session is open here
        poll = await run_in_threadpool(_poll, sessions, video_id, after, url)


@router.get("/{video_id}/events", response_class=EventStreamResponse, responses=STREAM_RESPONSES)
def video_events(video_id: VideoId, user: User, svc: Svc,
                 after: Annotated[int, Query(ge=0, le=MAX_ID, description="resume after this event id")] = 0,
                 last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID, description="what an EventSource "
                                                             "sends when it reconnects; wins over a lower "
                                                             "`after`")] = None) -> Response:
    """The creator only: the video's processing events so far, then new ones as they happen, as Server-Sent
    Events. Ends after ready, rejected or failed, and after 10 minutes (reconnect with Last-Event-ID)."""
    after = max(after, last_event_id or 0)
    first = _first(svc.sessions, video_id, user, after, svc.playback_url)
    if not first.events and first.finished:
        return Response(status_code=204)
    return EventStreamResponse(_follow(svc.sessions, video_id, after, first, svc.playback_url),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
