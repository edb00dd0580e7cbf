"""Reactions to a video: likes (idempotent), comments (<= 500 characters, replies, paginated), shares and
"not interested". Each one is logged to the event log and feeds the live counters and the profile."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated

from fastapi import APIRouter, Query

from catalog import counters, events, notifications, social
from catalog.db import session_scope
from catalog.models import Comment, Video
from catalog.models import User as UserRow
from feed_api.activity import LiveUpdate, apply, live_deltas
from feed_api.cards import build_card, forget_viewers
from feed_api.cursor import CursorError
from feed_api.deps import Commenter, MaybeUser, Reactor, Svc, User
from feed_api.errors import ApiError, invalid
from feed_api.live import LiveUnavailable
from feed_api.schemas import (
    CommentOut,
    CommentPage,
    LikeState,
    NewComment,
    NewShare,
    NotInterestedIn,
    NotInterestedOut,
    ShareOut,
)
from feed_api.videos import VISIBLE_ERRORS, VideoId, load_visible

router = APIRouter(prefix="/v1/videos", tags=["social"])


def _region(s, user: str) -> str:
    row = s.get(UserRow, user)
    return row.region if row else "global"


def _card(svc, s, video_id: str) -> dict:
    from catalog import feeds

    return build_card(feeds.cards(s, [video_id])[video_id], svc)


def _total(svc, video_id: str, counter: str) -> int:
    """Flushed total + live delta, read after the update was applied (to Redis, or to PostgreSQL if down)."""
    with session_scope(svc.sessions) as s:
        flushed = getattr(s.get(Video, video_id), counters.COLUMNS[counter])
    pending = int((live_deltas(svc, [video_id]).get(video_id) or {}).get(counter, 0))
    return max(0, flushed + pending)


def _like(svc, video_id: str, user: str, on: bool) -> LikeState:
    with session_scope(svc.sessions) as s:
        video = load_visible(s, video_id, user)
        changed = social.like(s, user, video_id) if on else social.unlike(s, user, video_id)
        update = LiveUpdate(_region(s, user))
        if changed:
            events.append(s, [events.Event(user, "like" if on else "unlike", video_id)])
            if on:  # once per liker and video, however often the like is toggled
                notifications.notify_actor(s, video.creator_id, notifications.Kind.VIDEO_LIKED, user,
                                           video_id=video_id, dedup_key=f"like:{user}:{video_id}")
            update.count(video_id, "likes", 1 if on else -1)
            if on:
                update.signal(_card(svc, s, video_id), "like", time.time())
    apply(svc, user, update)
    return LikeState(video_id=video_id, liked=on, likes=_total(svc, video_id, "likes"))


@router.post("/{video_id}/like", response_model=LikeState, responses=VISIBLE_ERRORS)
def like(video_id: VideoId, user: Reactor, svc: Svc) -> LikeState:
    """Like (liking twice is one like)."""
    return _like(svc, video_id, user, True)


@router.delete("/{video_id}/like", response_model=LikeState, responses=VISIBLE_ERRORS)
def unlike(video_id: VideoId, user: Reactor, svc: Svc) -> LikeState:
    return _like(svc, video_id, user, False)


@router.post("/{video_id}/comments", status_code=201, response_model=CommentOut,
             responses={404: {"description": "no such video (or not one you may see), or no such parent comment"}})
def comment(video_id: VideoId, body: NewComment, user: Commenter, svc: Svc) -> CommentOut:
    """Comment, or reply with ``reply_to`` (or ``parent_id``): a comment on the same video. The video's creator
    is notified of a comment, the parent's author of a reply."""
    with session_scope(svc.sessions) as s:
        video = load_visible(s, video_id, user)
        try:
            c = social.add_comment(s, video_id=video_id, user_id=user, body=body.body, parent_id=body.parent)
        except social.ParentNotFound as exc:
            raise ApiError(404, "comment_not_found", str(exc)) from exc
        _notify_comment(s, video.creator_id, c)
        events.append(s, [events.Event(user, "comment", video_id, extra={"comment_id": c.id})])
        update = LiveUpdate(_region(s, user))
        update.count(video_id, "comments")
        update.signal(_card(svc, s, video_id), "comment", time.time())
        handle = s.get(UserRow, user).handle if s.get(UserRow, user) else None
        out = CommentOut(id=c.id, video_id=video_id, user_id=user, handle=handle, parent_id=c.parent_id,
                         body=c.body, created_at=c.created_at, replies=0)
    apply(svc, user, update)
    return out


def _notify_comment(s, creator_id: str | None, c) -> None:
    """The video's creator hears of a comment, the parent's author of a reply (once: a reply to the creator's
    own comment is a reply, not also a comment)."""
    detail = {"text": notifications.snippet(c.body)}
    parent_author = s.get(Comment, c.parent_id).user_id if c.parent_id else None
    if parent_author is not None:
        notifications.notify_actor(s, parent_author, notifications.Kind.COMMENT_REPLIED, c.user_id,
                                   video_id=c.video_id, comment_id=c.id, detail=detail)
    if creator_id != parent_author:
        notifications.notify_actor(s, creator_id, notifications.Kind.VIDEO_COMMENTED, c.user_id,
                                   video_id=c.video_id, comment_id=c.id, detail=detail)


@router.get("/{video_id}/comments", response_model=CommentPage,
            responses={**VISIBLE_ERRORS, 400: {"description": "tampered or foreign cursor"}})
def comments(video_id: VideoId, user: MaybeUser, svc: Svc,
             parent_id: Annotated[int | None, Query(ge=1, le=2**62, description="replies to this comment")] = None,
             cursor: Annotated[str | None, Query(max_length=512)] = None,
             limit: Annotated[int, Query(ge=1, le=100)] = 20) -> CommentPage:
    """Oldest first; top-level comments, or the replies to ``parent_id``."""
    after = 0
    feed = f"comments:{video_id}:{parent_id or ''}"
    if cursor:
        try:
            c = svc.cursors.decode(cursor)
        except CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from exc
        if c.feed != feed:
            raise ApiError(400, "invalid_cursor", "this cursor belongs to another list")
        after = c.pos
    with session_scope(svc.sessions) as s:
        load_visible(s, video_id, user)
        rows = social.list_comments(s, video_id, parent_id=parent_id, after_id=after, limit=limit)
    from feed_api.cursor import Cursor

    nxt = svc.cursors.encode(Cursor(session="", feed=feed, user="", mode="comments", pos=rows[-1].id)) \
        if len(rows) == limit else None
    return CommentPage(items=[CommentOut(**vars(r)) for r in rows], next_cursor=nxt)


@router.post("/{video_id}/share", status_code=201, response_model=ShareOut, responses=VISIBLE_ERRORS)
def share(video_id: VideoId, user: Reactor, svc: Svc, body: NewShare | None = None) -> ShareOut:
    channel = body.channel if body else "link"
    with session_scope(svc.sessions) as s:
        load_visible(s, video_id, user)
        social.add_share(s, user_id=user, video_id=video_id, channel=channel)
        events.append(s, [events.Event(user, "share", video_id, extra={"channel": channel})])
        update = LiveUpdate(_region(s, user))
        update.count(video_id, "shares")
        update.signal(_card(svc, s, video_id), "share", time.time())
    apply(svc, user, update)
    return ShareOut(video_id=video_id, shares=_total(svc, video_id, "shares"))


@router.post("/{video_id}/not_interested", response_model=NotInterestedOut,
             responses={**VISIBLE_ERRORS, 409: {"description": "nothing to hide: your own video, or no hashtags"},
                        422: {"description": "invalid body, or the video lacks that hashtag"}})
def not_interested(video_id: VideoId, user: User, svc: Svc, body: NotInterestedIn | None = None) -> NotInterestedOut:
    """Keep this video's creator (default) or topic out of the user's feeds, from the next page on."""
    body = body or NotInterestedIn()
    with session_scope(svc.sessions) as s:
        video = load_visible(s, video_id, user)
        if body.kind == "creator":
            if not video.creator_id or video.creator_id == user:
                raise ApiError(409, "invalid_request", "this video has no other creator to hide")
            values = [video.creator_id]
        else:
            tag = body.tag.lstrip("#").lower() if body.tag else None
            if tag and tag not in (video.tag_keys or []):
                raise invalid(f"the video is not tagged {tag!r}", "tag")
            values = [tag] if tag else list(video.tag_keys or [])
            if not values:
                raise ApiError(409, "invalid_request", "this video has no hashtags to hide")
        for value in values:
            social.not_interested(s, user, body.kind, value)
        events.append(s, [events.Event(user, "not_interested", video_id, extra={"kind": body.kind, "values": values})])
        creators, tags = social.not_interested_in(s, user)
    forget_viewers(svc, user)
    # Drop the matching profile fields too, so the taste does not pull similar videos back up.
    prefix = "c:" if body.kind == "creator" else "t:"
    with contextlib.suppress(LiveUnavailable):  # best effort; the hard filter is what guarantees it
        svc.live.run_sync(lambda r: r.hdel(svc.live.keys.profile(user), *(prefix + v for v in values)))
    return NotInterestedOut(video_id=video_id, hidden_creators=sorted(creators), hidden_tags=sorted(tags))
