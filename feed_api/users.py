"""Sign-up, profiles, a creator's videos, follows and blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import func, select

from catalog import accounts, events, feeds, notifications, social
from catalog import users as repo
from catalog.db import session_scope
from catalog.models import Follow, VideoState
from feed_api.activity import live_deltas
from feed_api.auth import create_account, new_password_hash, token_for, user_agent
from feed_api.cards import forget_viewers, load_cards_sync, public, servable
from feed_api.cursor import Cursor, CursorError
from feed_api.deps import Follower, MaybeUser, Svc, User, signup_budget
from feed_api.errors import ApiError, invalid, not_found
from feed_api.schemas import USER_ID_PATTERN, BlockState, FollowState, MeOut, SignedUp, SignUp, UserOut, VideoList
from feed_api.services import Services
from feed_api.videos import moderation_out

router = APIRouter(prefix="/v1/users", tags=["users"])
UserId = Annotated[str, Path(pattern=USER_ID_PATTERN, description="user id")]
# What the handlers raise; auth, rate-limit, validation and conflict answers are added by feed_api.openapi.
ERRORS = {404: {"description": "no such user"}}
TARGET_ERRORS = {**ERRORS, 422: {"description": "invalid user id, or yourself"}}


def user_out(s, user, svc: Services, *, me: bool = False) -> UserOut:
    followers = s.scalar(select(func.count()).select_from(Follow).where(Follow.followee_id == user.id)) or 0
    following = s.scalar(select(func.count()).select_from(Follow).where(Follow.follower_id == user.id)) or 0
    small = user.avatar_key.replace("-256.jpg", "-64.jpg") if user.avatar_key else None
    fields = dict(id=user.id, handle=user.handle, display_name=user.display_name, region=user.region,
                  interests=list(user.interests or []), created_at=user.created_at, followers=followers,
                  following=following, bio=user.bio or "", avatar_url=svc.avatar_url(user.avatar_key),
                  avatar_small_url=svc.avatar_url(small))
    return MeOut(**fields, has_password=user.password_hash is not None) if me else UserOut(**fields)


@router.post("", status_code=201, response_model=SignedUp, responses={409: {"description": "handle taken"}},
             dependencies=[Depends(signup_budget)])
def sign_up(body: SignUp, request: Request, svc: Svc) -> SignedUp:
    """Create an account (handle, region, interests picked at sign-up) and get its first tokens. The password is
    optional here, for clients from before accounts had passwords (POST /v1/auth/signup requires one); the
    answer carries a refresh token as well, so such an account stays signed in past its access token."""
    password_hash = new_password_hash(svc, body.password, handle=body.handle) if body.password is not None else None
    with session_scope(svc.sessions) as s:
        user = create_account(s, body, password_hash)
        out = user_out(s, user, svc)
        issued, _ = accounts.issue_refresh(s, user.id, ttl_s=svc.refresh_ttl_s, user_agent=user_agent(request))
    token = token_for(svc, out.id, 0)
    token.refresh_token, token.refresh_expires_in = issued.token, svc.refresh_ttl_s
    return SignedUp(user=out, token=token)


@router.get("/{user_id}", response_model=UserOut, responses=ERRORS)
def get_user(user_id: UserId, viewer: MaybeUser, svc: Svc) -> UserOut:
    with session_scope(svc.sessions) as s:
        user = repo.find_user(s, user_id)
        if user is None:
            raise not_found("user", user_id)
        return user_out(s, user, svc)


@router.get("/{user_id}/videos", response_model=VideoList,
            responses={**ERRORS, 400: {"description": "tampered or foreign cursor"}})
def user_videos(user_id: UserId, viewer: MaybeUser, svc: Svc,
                cursor: Annotated[str | None, Query(max_length=1024)] = None,
                limit: Annotated[int, Query(ge=1, le=50)] = 20) -> VideoList:
    """A creator's ready videos, newest first: all of them for the creator, what privacy allows for others."""
    feed = f"user:{user_id}"
    after = None
    if cursor:
        try:
            key = svc.cursors.key_for(cursor, feed, viewer)
        except CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from exc
        after = (datetime.fromisoformat(key[0]), str(key[1]))
    with session_scope(svc.sessions) as s:
        if repo.find_user(s, user_id) is None:
            raise not_found("user", user_id)
        f = feeds.viewer_filters(s, viewer)
        blocked = viewer is not None and user_id in f.blocked
        rows = [] if blocked else feeds.by_creator(s, f, user_id, after=after, limit=limit)
        cards = load_cards_sync(svc, s, [v for v, _ in rows])
    own = viewer == user_id
    ids = [v for v, _ in rows if v in cards and (own or servable(cards[v], None, followers_ok=True))]
    deltas = live_deltas(svc, ids)
    items = [_own_item(cards[v], deltas.get(v), svc) if own else public(cards[v], deltas.get(v), svc)
             for v in ids]
    nxt = svc.cursors.encode(Cursor(session="", feed=feed, user=viewer or "", mode="recent",
                                    key=[rows[-1][1].isoformat(), rows[-1][0]])) if len(rows) == limit else None
    return VideoList(items=items, next_cursor=nxt)


def _own_item(card: dict, deltas, svc: Svc) -> dict:
    """A creator's own video in their list: its state and where it stands with moderation; a removed one keeps
    no playback URL (nothing serves it)."""
    meta = card["_"]
    item = {**public(card, deltas, svc), "state": meta["state"],
            "moderation": moderation_out(meta["state"], meta.get("moderation", "clear"), meta.get("reason"))}
    if meta["state"] == VideoState.REMOVED:
        item["playback_url"] = ""
    return item


def _target(s, me: str, user_id: str) -> None:
    if user_id == me:
        raise invalid("you cannot do that to yourself", "user_id")
    if repo.find_user(s, user_id) is None:
        raise not_found("user", user_id)


@router.post("/{user_id}/follow", response_model=FollowState,
             responses={**TARGET_ERRORS, 403: {"description": "either has blocked the other"}})
def follow(user_id: UserId, user: Follower, svc: Svc) -> FollowState:
    """Follow (idempotent). Refused while either has blocked the other."""
    with session_scope(svc.sessions) as s:
        _target(s, user, user_id)
        if social.is_blocked_either_way(s, user, user_id):
            raise ApiError(403, "blocked", "you cannot follow this user")
        if social.follow(s, user, user_id):
            events.append(s, [events.Event(user, "follow", extra={"user_id": user_id})])
            # Once per follower: unfollowing and following again tells nobody twice.
            notifications.notify_actor(s, user_id, notifications.Kind.NEW_FOLLOWER, user,
                                       dedup_key=f"follow:{user}")
    return FollowState(user_id=user_id, following=True)


@router.delete("/{user_id}/follow", response_model=FollowState, responses=TARGET_ERRORS)
def unfollow(user_id: UserId, user: Follower, svc: Svc) -> FollowState:
    with session_scope(svc.sessions) as s:
        _target(s, user, user_id)
        if social.unfollow(s, user, user_id):
            events.append(s, [events.Event(user, "unfollow", extra={"user_id": user_id})])
    return FollowState(user_id=user_id, following=False)


@router.post("/{user_id}/block", response_model=BlockState, responses=TARGET_ERRORS)
def block(user_id: UserId, user: User, svc: Svc) -> BlockState:
    """Block (idempotent): neither sees the other's videos any more, and follows between them end."""
    with session_scope(svc.sessions) as s:
        _target(s, user, user_id)
        social.block(s, user, user_id)
    forget_viewers(svc, user, user_id)
    return BlockState(user_id=user_id, blocked=True)


@router.delete("/{user_id}/block", response_model=BlockState, responses=TARGET_ERRORS)
def unblock(user_id: UserId, user: User, svc: Svc) -> BlockState:
    with session_scope(svc.sessions) as s:
        _target(s, user, user_id)
        social.unblock(s, user, user_id)
    forget_viewers(svc, user, user_id)
    return BlockState(user_id=user_id, blocked=False)
