"""Getting a token outside sign-up: the development endpoint (``REELFLOW_DEV_AUTH``, on by default locally)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from catalog import users as repo
from catalog.db import session_scope
from feed_api.deps import Svc, signup_budget
from feed_api.errors import ApiError, invalid, not_found
from feed_api.schemas import DevTokenRequest, TokenOut

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def token_for(svc, user_id: str) -> TokenOut:
    return TokenOut(access_token=svc.tokens.issue(user_id), expires_in=svc.tokens.ttl_s, user_id=user_id)


@router.post("/dev-token", response_model=TokenOut, responses={404: {"description": "dev auth is off, or no user"}},
             dependencies=[Depends(signup_budget)])
def dev_token(body: DevTokenRequest, svc: Svc) -> TokenOut:
    """Development only: a token for an existing ``user_id``, or for ``handle`` (created when missing)."""
    if not svc.dev_auth:
        raise ApiError(404, "not_found", "development tokens are disabled (REELFLOW_DEV_AUTH=false)")
    if (body.user_id is None) == (body.handle is None):
        raise invalid("send exactly one of user_id and handle")
    with session_scope(svc.sessions) as s:
        if body.user_id:
            if repo.find_user(s, body.user_id) is None:
                raise not_found("user", body.user_id)
            user_id = body.user_id
        else:
            user = repo.by_handle(s, body.handle or "")
            if user is None:
                try:
                    user = repo.create_user(s, handle=body.handle or "")
                except repo.HandleTaken:  # created meanwhile by a concurrent call
                    user = repo.by_handle(s, body.handle or "")
            user_id = user.id
    return token_for(svc, user_id)
