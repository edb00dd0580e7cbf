"""Accounts' tokens: sign-up with a password, login, refresh (rotation with reuse detection), logout, logout
everywhere; and the development endpoint (``REELFLOW_DEV_AUTH``, on for the local stack only).

Handlers are plain ``def``: argon2 takes ~20 ms of CPU, which FastAPI's thread pool keeps off the event loop.
Passwords are hashed and checked outside database transactions, so a connection is never held for a hash.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from catalog import accounts
from catalog import users as repo
from catalog.db import session_scope
from catalog.models import User
from catalog.passwords import WeakPassword, check_policy
from feed_api.deps import UNAUTHORIZED, Svc, client_budget, signup_budget
from feed_api.deps import User as CurrentUser
from feed_api.errors import ApiError, invalid, not_found
from feed_api.rate_limits import Budget, begin_password_attempt, client_subject, end_password_attempt
from feed_api.schemas import AccountSignUp, AuthOut, DevTokenRequest, Login, RefreshRequest, SignUp, TokenOut
from feed_api.services import Services

router = APIRouter(prefix="/v1/auth", tags=["auth"])
CREDENTIALS_ERRORS = {401: {"description": "unknown handle or wrong password (invalid_credentials), one answer "
                                           "for both"},
                      429: {"description": "too many attempts for this account or from this address; every "
                                           "attempt is refused until Retry-After, a correct password too"}}
REFRESH_ERRORS = {401: {"description": "unknown, expired or revoked refresh token (invalid_refresh_token); or one "
                                       "already used (token_reused): every token of its sign-in is revoked"}}


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent") or None


def token_for(svc: Services, user_id: str, session_version: int = 0) -> TokenOut:
    return TokenOut(access_token=svc.tokens.issue(user_id, sv=session_version), expires_in=svc.tokens.ttl_s,
                    user_id=user_id)


def pair_for(svc: Services, s: Session, user_id: str, handle: str, session_version: int, *,
             agent: str | None = None, issued: accounts.IssuedRefresh | None = None) -> AuthOut:
    """An access token and a refresh token of a new family (or ``issued``, a rotation's successor)."""
    if issued is None:
        issued, _ = accounts.issue_refresh(s, user_id, ttl_s=svc.refresh_ttl_s, user_agent=agent)
    return AuthOut(user_id=user_id, handle=handle, access_token=svc.tokens.issue(user_id, sv=session_version),
                   refresh_token=issued.token, expires_in=svc.tokens.ttl_s, refresh_expires_in=svc.refresh_ttl_s)


def new_password_hash(svc: Services, password: str, *, handle: str = "", field: str = "password") -> str:
    """The argon2id hash of a new password; 422 naming the rule it breaks."""
    try:
        check_policy(password, handle=handle)
    except WeakPassword as exc:
        raise invalid(str(exc), field) from exc
    return svc.passwords.hash(password)


def create_account(s: Session, body: SignUp, password_hash: str | None) -> User:
    try:
        user = repo.create_user(s, handle=body.handle, display_name=body.display_name, region=body.region,
                                interests=body.interests)
    except repo.HandleTaken as exc:
        raise ApiError(409, "handle_taken", str(exc)) from exc
    if password_hash:
        user.password_hash = password_hash
    s.flush()
    return user


@router.post("/signup", status_code=201, response_model=AuthOut, dependencies=[Depends(signup_budget)],
             responses={409: {"description": "handle taken"}})
def signup(body: AccountSignUp, request: Request, svc: Svc) -> AuthOut:
    """Create an account with a password; answers its first access and refresh tokens."""
    password_hash = new_password_hash(svc, body.password, handle=body.handle)
    with session_scope(svc.sessions) as s:
        user = create_account(s, body, password_hash)
        return pair_for(svc, s, user.id, user.handle, user.session_version or 0, agent=user_agent(request))


def login_budgets(request: Request, handle: str) -> list[tuple[str, Budget]]:
    return [(f"h:{handle.lower()}", Budget.LOGIN_ACCOUNT), (client_subject(request), Budget.LOGIN_IP)]


@router.post("/login", response_model=AuthOut, responses=CREDENTIALS_ERRORS)
def login(body: Login, request: Request, svc: Svc) -> AuthOut:
    """Exchange a handle and password for a new access and refresh token pair."""
    budgets = login_budgets(request, body.handle)
    begin_password_attempt(svc, budgets)
    with session_scope(svc.sessions) as s:
        found = accounts.credentials_by_handle(s, body.handle)
    # Unknown handles verify against a dummy hash: the same work, so the same time, as a wrong password.
    if not svc.passwords.verify(found.password_hash if found else None, body.password) or found is None:
        raise ApiError(401, "invalid_credentials", "the handle or the password is wrong", headers=UNAUTHORIZED)
    end_password_attempt(svc, budgets)
    rehash = svc.passwords.hash(body.password) if svc.passwords.needs_rehash(found.password_hash or "") else None
    with session_scope(svc.sessions) as s:
        if rehash:  # stored with older parameters: store it as today's parameters would
            accounts.set_password_hash(s, found.user_id, rehash)
        version = accounts.session_version(s, found.user_id) or 0
        return pair_for(svc, s, found.user_id, found.handle, version, agent=user_agent(request))


@router.post("/refresh", response_model=AuthOut, responses=REFRESH_ERRORS, dependencies=[Depends(client_budget)])
def refresh(body: RefreshRequest, request: Request, svc: Svc) -> AuthOut:
    """Exchange a refresh token for a new pair. Each refresh token works once; the old one is spent."""
    with session_scope(svc.sessions) as s:
        r = accounts.rotate(s, body.refresh_token, ttl_s=svc.refresh_ttl_s, user_agent=user_agent(request))
        out = pair_for(svc, s, r.user.id, r.user.handle, r.user.session_version, issued=r.issued) \
            if r.outcome is accounts.Outcome.OK and r.user is not None else None
    # Committed before answering: a reuse's revocation of the family stands although the answer is an error.
    if r.outcome is accounts.Outcome.REUSED:
        raise ApiError(401, "token_reused", "this refresh token was used already: every session of this sign-in "
                                            "is revoked; sign in again", headers=UNAUTHORIZED)
    if out is None:
        raise ApiError(401, "invalid_refresh_token", "the refresh token is unknown, expired or revoked; sign in "
                                                     "again", headers=UNAUTHORIZED)
    return out


@router.post("/logout", status_code=204, dependencies=[Depends(client_budget)])
def logout(body: RefreshRequest, svc: Svc) -> None:
    """Sign this device out: its refresh token's sign-in can refresh no more. Its access token lapses within
    its short lifetime (sign out everywhere ends access tokens at once). 204 for an unknown token too."""
    with session_scope(svc.sessions) as s:
        accounts.revoke_token_family(s, body.refresh_token)


@router.post("/logout-all", status_code=204)
def logout_all(user: CurrentUser, svc: Svc) -> None:
    """Sign out everywhere: every refresh token of the account is revoked, and every access token issued so far
    stops working (at once in this process, within a couple of seconds in the others)."""
    with session_scope(svc.sessions) as s:
        version = accounts.sign_out_everywhere(s, user)
    svc.versions.bumped(user, version)


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
            user = repo.find_user(s, body.user_id)
            if user is None:
                raise not_found("user", body.user_id)
        else:
            user = repo.by_handle(s, body.handle or "")
            if user is None:
                try:
                    user = repo.create_user(s, handle=body.handle or "")
                except repo.HandleTaken:  # created meanwhile by a concurrent call
                    user = repo.by_handle(s, body.handle or "")
        assert user is not None
        return token_for(svc, user.id, user.session_version or 0)
