"""The moderators' API (``/v1/moderation/...``, the roles moderator and admin; 403 for everyone else): the review
queue, actions on videos, comments and users, appeals, and the audit log.

Removing a video takes it down at once (state ``removed``: no feed, page or like serves it; the edge's catalog
check refuses it) and purges every edge tier through the outbox, keeping the origin's objects so an upheld
appeal can restore it. Every action is a row of the append-only audit log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import moderation as repo
from catalog.db import session_scope
from catalog.models import ModerationAction, Video
from feed_api.cards import drop_cards
from feed_api.cursor import Cursor, CursorError
from feed_api.deps import Moderator, Svc
from feed_api.errors import ApiError, not_found
from feed_api.reports import CommentId, UserId, appeal_out
from feed_api.schemas import (
    ActionOut,
    AppealDecision,
    AppealPage,
    AuditPage,
    CommentAction,
    Decided,
    QueueItemOut,
    QueuePage,
    QueueVideo,
    UserAction,
    VideoAction,
)
from feed_api.services import Services
from feed_api.videos import VideoId
from jobs import purge

router = APIRouter(prefix="/v1/moderation", tags=["moderation"])
QUEUE_FEED = "moderation_queue"
MAX_ID = 2**63 - 1
ACTION_ERRORS = {403: {"description": "not a moderator, or your own content"}, 404: {"description": "no such target"},
                 409: {"description": "the action does not apply to the target as it stands"}}


@contextlib.contextmanager
def _refusals(what: str, target_id: str) -> Iterator[None]:
    """The catalog's refusals as the API answers them: 404 unknown target, 409 wrong state, 403 own content."""
    try:
        yield
    except repo.TargetNotFound as exc:
        raise not_found(what, target_id) from exc
    except repo.ModerationError as exc:
        raise ApiError(409, "invalid_state", str(exc)) from exc
    except repo.OwnContent as exc:
        raise ApiError(403, "forbidden", str(exc)) from exc


def action_out(a: ModerationAction) -> ActionOut:
    return ActionOut(id=a.id, moderator_id=a.moderator_id, target_kind=a.target_kind, target_id=a.target_id,
                     action=a.action, reason=a.reason, previous_state=a.previous_state,
                     previous_moderation=a.previous_moderation, created_at=a.created_at)


@router.get("/queue", response_model=QueuePage, responses={400: {"description": "tampered or foreign cursor"}})
def queue(mod: Moderator, svc: Svc, cursor: Annotated[str | None, Query(max_length=1024)] = None,
          limit: Annotated[int, Query(ge=1, le=100)] = 20) -> QueuePage:
    """Targets with open reports, grouped, with counts per reason; the longest-waiting first."""
    after = None
    if cursor:
        try:
            c = svc.cursors.decode(cursor)
            if c.feed != QUEUE_FEED or c.user != mod or len(c.key) != 3:
                raise CursorError("this cursor belongs to another list or user")
            after = (datetime.fromisoformat(c.key[0]), str(c.key[1]), str(c.key[2]))
        except (CursorError, ValueError) as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from exc
    with session_scope(svc.sessions) as s:
        items = repo.queue(s, after=after, limit=limit)
        ids = [i.target_id for i in items if i.target_kind == repo.TargetKind.VIDEO]
        videos = {v.id: v for v in s.scalars(select(Video).where(Video.id.in_(ids)))} if ids else {}
        out = [QueueItemOut(target_kind=i.target_kind, target_id=i.target_id, reports=i.reports, reasons=i.reasons,
                            first_reported_at=i.first_reported_at, last_reported_at=i.last_reported_at,
                            video=QueueVideo(state="deleted" if v.deleted_at else v.state, moderation=v.moderation,
                                             creator_id=v.creator_id, caption=v.caption)
                            if (v := videos.get(i.target_id)) is not None else None)
               for i in items]
    nxt = None
    if len(items) == limit:
        last = items[-1]
        nxt = svc.cursors.encode(Cursor(session="", feed=QUEUE_FEED, user=mod, mode="recent",
                                        key=[last.first_reported_at.isoformat(), last.target_kind, last.target_id]))
    return QueuePage(items=out, next_cursor=nxt)


@router.post("/videos/{video_id}/actions", response_model=ActionOut, responses=ACTION_ERRORS)
def act_on_video(video_id: VideoId, body: VideoAction, mod: Moderator, svc: Svc,
                 background: BackgroundTasks) -> ActionOut:
    """approve (clear; back in every feed), restrict (out of discovery feeds), remove (take down: the creator is
    told why; every edge tier is purged) or restore (reverse a removal)."""
    action = repo.Action(body.action)
    with session_scope(svc.sessions) as s:
        with _refusals("video", video_id):
            row = repo.act_on_video(s, moderator_id=mod, video_id=video_id, action=action, reason=body.reason,
                                    prohibit=body.prohibit)
        edge_changes = action in (repo.Action.REMOVE, repo.Action.RESTORE)
        if edge_changes:
            _purge_edge(s, svc, background, video_id)
        out = action_out(row)
    drop_cards(svc, [video_id])
    return out


def _purge_edge(s: Session, svc: Services, background: BackgroundTasks, video_id: str) -> None:
    """A removal or a restore changes who may read the video at the edge: purge every tier, keeping the origin.
    The purge also drops the edge's cached access answer, so a restored video plays again at once rather than
    after that answer's few seconds. Enqueued in the action's transaction (never lost), sent after the answer."""
    purge.enqueue(s, video_id, keep_origin=True)
    background.add_task(purge.process_pending, svc.sessions, svc.origin, svc.purger, video_id=video_id)


@router.post("/comments/{comment_id}/actions", response_model=ActionOut, responses=ACTION_ERRORS)
def act_on_comment(comment_id: CommentId, body: CommentAction, mod: Moderator, svc: Svc) -> ActionOut:
    """approve (dismiss the reports) or remove (hide the comment; its author is told why)."""
    with session_scope(svc.sessions) as s, _refusals("comment", str(comment_id)):
        return action_out(repo.act_on_comment(s, moderator_id=mod, comment_id=comment_id,
                                              action=repo.Action(body.action), reason=body.reason))


@router.post("/users/{user_id}/actions", response_model=ActionOut, responses=ACTION_ERRORS)
def act_on_user(user_id: UserId, body: UserAction, mod: Moderator, svc: Svc) -> ActionOut:
    """approve: dismiss the reports on an account (its videos and comments are acted on one by one)."""
    with session_scope(svc.sessions) as s, _refusals("user", user_id):
        return action_out(repo.act_on_user(s, moderator_id=mod, user_id=user_id, action=repo.Action(body.action),
                                           reason=body.reason))


@router.get("/appeals", response_model=AppealPage)
def appeals(mod: Moderator, svc: Svc, after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
            limit: Annotated[int, Query(ge=1, le=100)] = 20) -> AppealPage:
    """Open appeals, oldest first; page on with ``after=next_after``."""
    with session_scope(svc.sessions) as s:
        items = [appeal_out(a) for a in repo.open_appeals(s, after_id=after, limit=limit)]
    return AppealPage(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.post("/appeals/{appeal_id}", response_model=Decided,
             responses={403: {"description": "not a moderator, or your own appeal"},
                        404: {"description": "no such appeal"}, 409: {"description": "decided already"}})
def decide_appeal(appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: AppealDecision, mod: Moderator,
                  svc: Svc, background: BackgroundTasks) -> Decided:
    """uphold (the video is restored exactly as it was; the creator is told) or deny (the creator is told)."""
    with session_scope(svc.sessions) as s:
        with _refusals("appeal", str(appeal_id)):
            appeal, action = repo.decide_appeal(s, moderator_id=mod, appeal_id=appeal_id,
                                                uphold=body.decision == "uphold", reason=body.reason)
        out = Decided(appeal=appeal_out(appeal), action=action_out(action))
        if body.decision == "uphold":
            _purge_edge(s, svc, background, appeal.video_id)
    drop_cards(svc, [out.appeal.video_id])
    return out


@router.get("/audit", response_model=AuditPage)
def audit(mod: Moderator, svc: Svc, before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
          limit: Annotated[int, Query(ge=1, le=100)] = 50,
          target_kind: Annotated[repo.TargetKind | None, Query()] = None,
          target_id: Annotated[str | None, Query(max_length=32, pattern=r"^[0-9a-f]{1,32}$")] = None) -> AuditPage:
    """Every moderation action, newest first; filter by target; page back with ``before=next_before``."""
    with session_scope(svc.sessions) as s:
        items = [action_out(a) for a in repo.audit(s, before_id=before, limit=limit,
                                                   target_kind=target_kind.value if target_kind else None,
                                                   target_id=target_id)]
    return AuditPage(items=items, next_before=items[-1].id if len(items) == limit else None)
