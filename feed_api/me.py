"""The signed-in user's own account: profile, password, avatar."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from catalog import accounts
from catalog import users as repo
from catalog.db import session_scope
from feed_api.auth import new_password_hash, pair_for, user_agent
from feed_api.deps import UNAUTHORIZED, Svc, User
from feed_api.errors import ApiError, invalid
from feed_api.rate_limits import Budget, begin_password_attempt, end_password_attempt
from feed_api.schemas import AuthOut, MeOut, PasswordChange, ProfileEdit
from feed_api.services import Services
from feed_api.users import user_out
from jobs import avatars
from media.avatar import AvatarLimits, AvatarRejected

router = APIRouter(prefix="/v1/me", tags=["me"])
AVATAR_PATH = "/v1/me/avatar"  # feed_api.app gives it a larger body limit than the rest
AVATAR_ERRORS = {413: {"description": "the image is over the avatar limit (5 MiB by default)"},
                 422: {"description": "no body: send the image's bytes"},
                 415: {"description": "not an image, a truncated one, or too many pixels (bad_image)"}}
# A wrong current password is 403, not 401: a client that refreshes its token on 401 would retry in a loop.
PASSWORD_ERRORS = {403: {"description": "the current password is wrong (invalid_credentials)"},
                   429: {"description": "too many wrong current passwords; retry after Retry-After"}}


def _me(svc: Services, user_id: str) -> MeOut:
    with session_scope(svc.sessions) as s:
        user = repo.find_user(s, user_id)
        if user is None:
            raise ApiError(401, "invalid_token", "the token's user does not exist", headers=UNAUTHORIZED)
        return user_out(s, user, svc, me=True)  # type: ignore[return-value]


@router.get("", response_model=MeOut)
def get_me(user: User, svc: Svc) -> MeOut:
    """Your profile, with whether the account has a password."""
    return _me(svc, user)


@router.patch("", response_model=MeOut)
def edit_me(body: ProfileEdit, user: User, svc: Svc) -> MeOut:
    """Change your display name and bio (fields left out stay as they are)."""
    with session_scope(svc.sessions) as s:
        accounts.update_profile(s, user, display_name=body.display_name, bio=body.bio)
    return _me(svc, user)


@router.post("/password", response_model=AuthOut, responses=PASSWORD_ERRORS)
def change_password(body: PasswordChange, request: Request, user: User, svc: Svc) -> AuthOut:
    """Set a new password (the current one is required when there is one). Every other session ends: all
    refresh tokens are revoked and older access tokens stop working; the answer is this device's new pair."""
    with session_scope(svc.sessions) as s:
        found = accounts.credentials_by_id(s, user)
    if found is None:
        raise ApiError(401, "invalid_token", "the token's user does not exist", headers=UNAUTHORIZED)
    if found.password_hash is not None:
        budgets = [(f"h:{found.handle}", Budget.LOGIN_ACCOUNT)]  # the same budget login guesses spend
        begin_password_attempt(svc, budgets)
        if body.current_password is None:
            raise invalid("send current_password", "current_password")
        if not svc.passwords.verify(found.password_hash, body.current_password):
            raise ApiError(403, "invalid_credentials", "the current password is wrong")
        end_password_attempt(svc, budgets)
    new_hash = new_password_hash(svc, body.new_password, handle=found.handle, field="new_password")
    with session_scope(svc.sessions) as s:
        accounts.set_password_hash(s, user, new_hash)
        version = accounts.sign_out_everywhere(s, user)
        out = pair_for(svc, s, user, found.handle, version, agent=user_agent(request))
    svc.versions.bumped(user, version)
    return out


@router.put("/avatar", response_model=MeOut, responses=AVATAR_ERRORS,
            openapi_extra={"requestBody": {"required": True, "description": "the image's bytes",
                                           "content": {"image/*": {"schema": {"type": "string",
                                                                              "format": "binary"}}}}})
async def put_avatar(request: Request, user: User, svc: Svc) -> MeOut:
    """Upload a new avatar: the image's bytes as the body (JPEG, PNG, WebP or GIF, up to 5 MiB). It is
    centre-cropped to a square and stored as 256 and 64 px JPEGs without the upload's metadata."""
    data = await request.body()
    if not data:
        raise invalid("send the image's bytes as the request body")
    limits = AvatarLimits(max_bytes=svc.max_avatar_bytes)
    if len(data) > limits.max_bytes:
        raise ApiError(413, "payload_too_large", f"the image is over {limits.max_bytes} bytes")
    try:
        await run_in_threadpool(avatars.publish_avatar, svc.store, svc.vod_bucket, svc.sessions, user, data, limits)
    except AvatarRejected as exc:
        raise ApiError(415, "bad_image", str(exc)) from exc
    return await run_in_threadpool(_me, svc, user)


@router.delete("/avatar", status_code=204)
def delete_avatar(user: User, svc: Svc) -> None:
    """Remove your avatar (its objects are deleted from the origin)."""
    avatars.remove_avatar(svc.store, svc.vod_bucket, svc.sessions, user)
