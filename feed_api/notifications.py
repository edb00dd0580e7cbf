"""The caller's own in-app notifications (``/v1/me/...``): list them, count the unread, mark them read, and get a
token for the live stream (``feed_api.notification_stream``).

Every query is scoped by the token's user, never by an id from the request, so no request can reach another
user's notifications: a foreign ``up_to_id`` simply marks nothing of theirs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import notifications as repo
from catalog.db import session_scope
from catalog.models import Notification, Privacy, Video
from feed_api.deps import Svc, User
from feed_api.schemas import (
    Actor,
    MarkedRead,
    MarkRead,
    NotificationOut,
    NotificationPage,
    StreamToken,
    UnreadCount,
)
from feed_api.services import Services
from feed_api.status_stream import public_detail
from feed_api.tokens import STREAM_AUDIENCE

router = APIRouter(prefix="/v1/me", tags=["me"])
MAX_ID = 2**63 - 1  # notifications.id is a bigint
STREAM_TOKEN_TTL_S = 300  # long enough to open the stream (and an EventSource's quick reconnects), no longer


def items(s: Session, svc: Services, rows: Sequence[Notification]) -> list[NotificationOut]:
    """Notifications as clients get them, in the list and in the stream alike: the actor's handle, a sentence,
    and edge URLs for the video's objects (signed for a non-public video, which the edge refuses unsigned)."""
    ids = {n.video_id for n in rows if n.video_id}
    non_public = set(s.scalars(select(Video.id).where(Video.id.in_(ids), Video.privacy != Privacy.PUBLIC))) \
        if ids else set()
    handles = repo.handles(s, {n.actor_id for n in rows if n.actor_id})
    out = []
    for n in rows:
        url = functools.partial(svc.playback_url, signed=n.video_id in non_public)
        handle = handles.get(n.actor_id) if n.actor_id else None
        out.append(NotificationOut(
            id=n.id, kind=n.kind, actor=Actor(id=n.actor_id, handle=handle) if n.actor_id else None,
            video_id=n.video_id, comment_id=n.comment_id, text=repo.text_for(n.kind, handle, n.detail or {}),
            detail=public_detail(n.detail or {}, url), created_at=n.created_at, read=n.read_at is not None))
    return out


@router.get("/notifications", response_model=NotificationPage)
def list_notifications(user: User, svc: Svc,
                       before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="older than this id")] = None,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20,
                       unread_only: bool = False) -> NotificationPage:
    """Newest first, with the unread count; page back with ``before=next_before``."""
    with session_scope(svc.sessions) as s:
        rows = repo.for_user(s, user, before_id=before, limit=limit, unread_only=unread_only)
        unread = repo.unread_count(s, user)
        out = items(s, svc, rows)
    return NotificationPage(items=out, unread=unread, next_before=out[-1].id if len(out) == limit else None)


@router.get("/notifications/unread", response_model=UnreadCount)
def unread(user: User, svc: Svc) -> UnreadCount:
    """How many of your notifications are unread (one indexed count: poll it for a badge, or use the stream)."""
    with session_scope(svc.sessions) as s:
        return UnreadCount(unread=repo.unread_count(s, user))


@router.post("/notifications/read", response_model=MarkedRead)
def mark_read(body: MarkRead, user: User, svc: Svc) -> MarkedRead:
    """Mark your notifications up to ``up_to_id`` read (idempotent); answers how many changed and how many
    unread remain."""
    with session_scope(svc.sessions) as s:
        marked = repo.mark_read(s, user, up_to_id=body.up_to_id)
        left = repo.unread_count(s, user)
    return MarkedRead(marked=marked, unread=left)


@router.post("/notifications/stream-token", response_model=StreamToken)
async def stream_token(user: User, svc: Svc) -> StreamToken:
    """A token for ``GET /v1/me/notifications/stream?access_token=`` from a browser's ``EventSource`` (which
    cannot send headers): valid on that route only, for 5 minutes, so a URL that ends up in a log opens
    nothing else and soon nothing at all."""
    sv = await svc.versions.current(user) or 0  # a later sign-out everywhere revokes it like any token
    return StreamToken(access_token=svc.tokens.issue(user, sv=sv, ttl_s=STREAM_TOKEN_TTL_S, audience=STREAM_AUDIENCE),
                       expires_in_s=STREAM_TOKEN_TTL_S)
