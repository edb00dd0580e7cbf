"""The caller's own in-app notifications (``/v1/me/...``): list them, mark them read.

Every query is scoped by the token's user, never by an id from the request, so no request can reach another
user's notifications: a foreign ``up_to_id`` simply marks nothing of theirs.
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from catalog import notifications as repo
from catalog.db import session_scope
from catalog.models import Notification, Privacy, Video
from feed_api.deps import Svc, User
from feed_api.schemas import MarkedRead, MarkRead, NotificationOut, NotificationPage
from feed_api.services import Services
from feed_api.status_stream import public_detail

router = APIRouter(prefix="/v1/me", tags=["me"])
MAX_ID = 2**63 - 1  # notifications.id is a bigint


def _out(n: Notification, svc: Services, non_public: set[str]) -> NotificationOut:
    # The edge refuses a non-public video's objects without a playback token: sign those URLs.
    url = functools.partial(svc.playback_url, signed=n.video_id in non_public)
    return NotificationOut(id=n.id, kind=n.kind, video_id=n.video_id, detail=public_detail(n.detail or {}, url),
                           created_at=n.created_at, read=n.read_at is not None)


@router.get("/notifications", response_model=NotificationPage)
def list_notifications(user: User, svc: Svc,
                       before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="older than this id")] = None,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20,
                       unread_only: bool = False) -> NotificationPage:
    """Newest first, with the unread count; page back with ``before=next_before``."""
    with session_scope(svc.sessions) as s:
        rows = repo.for_user(s, user, before_id=before, limit=limit, unread_only=unread_only)
        unread = repo.unread_count(s, user)
        ids = {n.video_id for n in rows if n.video_id}
        non_public = set(s.scalars(select(Video.id).where(Video.id.in_(ids), Video.privacy != Privacy.PUBLIC))) \
            if ids else set()
        items = [_out(n, svc, non_public) for n in rows]
    return NotificationPage(items=items, unread=unread, next_before=items[-1].id if len(items) == limit else None)


@router.post("/notifications/read", response_model=MarkedRead)
def mark_read(body: MarkRead, user: User, svc: Svc) -> MarkedRead:
    """Mark your notifications up to ``up_to_id`` read (idempotent); answers how many changed and how many
    unread remain."""
    with session_scope(svc.sessions) as s:
        marked = repo.mark_read(s, user, up_to_id=body.up_to_id)
        unread = repo.unread_count(s, user)
    return MarkedRead(marked=marked, unread=unread)
