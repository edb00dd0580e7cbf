"""FastAPI dependencies shared by the routers: the caller (bearer token) and the rate limit it is held to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from catalog.db import session_scope
from catalog.models import MODERATOR_ROLES
from catalog.moderation import role
from feed_api.errors import ApiError
from feed_api.rate_limits import Budget, client_subject, rate_limit
from feed_api.services import Services, services
from feed_api.tokens import Claims, TokenError

bearer = HTTPBearer(auto_error=False, description="an access token (JWT) from POST /v1/auth/signup, "
                    "/v1/auth/login or /v1/auth/refresh (or POST /v1/auth/dev-token in development)")
Svc = Annotated[Services, Depends(services)]

UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="reelflow"'}


async def _token_user(svc: Services, creds: HTTPAuthorizationCredentials | None) -> str | None:
    if creds is None:
        return None
    try:
        claims = svc.tokens.claims(creds.credentials)
    except TokenError as exc:
        raise ApiError(401, "invalid_token", str(exc), headers=UNAUTHORIZED) from exc
    await check_session(svc, claims)
    return claims.user_id


async def check_session(svc: Services, claims: Claims) -> None:
    """A token issued before its user signed out everywhere (or changed password) is refused, as is one whose
    user no longer exists. Usually a dict read (feed_api.session_versions)."""
    current = await svc.versions.current(claims.user_id)
    if current is None:
        raise ApiError(401, "invalid_token", "the token's user does not exist", headers=UNAUTHORIZED)
    if claims.session_version < current:
        raise ApiError(401, "invalid_token", "this session has been signed out; sign in again",
                       headers=UNAUTHORIZED)


async def required_user(svc: Services, authorization: str | None) -> str:
    """The user of an ``Authorization: Bearer`` header value (for routes that read headers themselves)."""
    scheme, _, token = (authorization or "").partition(" ")
    creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip()) \
        if scheme.lower() == "bearer" and token.strip() else None
    return await _required(svc, creds)


async def _required(svc: Services, creds: HTTPAuthorizationCredentials | None) -> str:
    user = await _token_user(svc, creds)
    if user is None:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token> (see POST /v1/auth/login)",
                       headers=UNAUTHORIZED)
    return user


async def current_user(svc: Svc, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The authenticated user's id; 401 without a valid bearer token, 429 over the rate limit."""
    user = await _required(svc, creds)
    await rate_limit(svc, user)
    return user


async def optional_user(request: Request, svc: Svc,
                        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str | None:
    """Like current_user, but anonymous callers are let through (None); a bad token is still 401."""
    user = await _token_user(svc, creds)
    await rate_limit(svc, user or client_subject(request))
    return user


def account_budget(budget: Budget) -> Callable[..., object]:
    """A dependency like current_user whose requests spend ``budget``, per account, instead of the general one
    (spending both would let a comment flood starve the same account's reads)."""
    async def limited_user(svc: Svc, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        user = await _required(svc, creds)
        await rate_limit(svc, user, budget)
        return user

    limited_user.__name__ = f"{budget}_user"
    return limited_user


async def signup_budget(request: Request, svc: Svc) -> None:
    """Ways to get a token without one (sign-up, the dev token) spend one budget per client IP."""
    await rate_limit(svc, client_subject(request), Budget.SIGNUP)


async def client_budget(request: Request, svc: Svc) -> None:
    """Anonymous writes that need no account (refresh, logout) spend the general budget of the client IP."""
    await rate_limit(svc, client_subject(request))


User = Annotated[str, Depends(current_user)]


def current_moderator(svc: Svc, user: User) -> str:
    """The authenticated user, if their role may moderate; 403 otherwise. The role is read from the catalog on
    every request, not from the token, so a demotion takes effect at once."""
    with session_scope(svc.sessions) as s:
        if role(s, user) not in MODERATOR_ROLES:
            raise ApiError(403, "forbidden", "moderators only")
    return user


Moderator = Annotated[str, Depends(current_moderator)]
MaybeUser = Annotated[str | None, Depends(optional_user)]
commenter, follower, reactor, reporter = (account_budget(b) for b in (Budget.COMMENT, Budget.FOLLOW, Budget.REACTION,
                                                                      Budget.REPORT))
Commenter = Annotated[str, Depends(commenter)]
Follower = Annotated[str, Depends(follower)]
Reactor = Annotated[str, Depends(reactor)]
Reporter = Annotated[str, Depends(reporter)]

# What each dependency can answer besides the route's own errors, for the OpenAPI document (feed_api.openapi).
# 503: the rate limiter's Redis call sheds the request when no connection comes free (LiveBusy).
LIMIT_ERRORS = {429: "rate limited; retry after Retry-After", 503: "overloaded; retry after Retry-After"}
DEPENDENCY_ERRORS: dict[Callable[..., object], dict[int, str]] = {
    current_user: {401: "no or bad token", **LIMIT_ERRORS},
    optional_user: {401: "bad token (calling without one is fine)", **LIMIT_ERRORS},
    **{dep: {401: "no or bad token", **LIMIT_ERRORS} for dep in (commenter, follower, reactor, reporter)},
    signup_budget: {429: "too many sign-ups or tokens from this address; retry after Retry-After",
                    503: LIMIT_ERRORS[503]},
    client_budget: LIMIT_ERRORS,
    current_moderator: {403: "not a moderator"},
}
