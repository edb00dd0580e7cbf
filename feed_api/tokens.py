"""Bearer tokens: JWT HS256 with ``sub`` = user id, ``exp`` and ``sv``, the user's session version when it was
issued (a token without one counts as version 0). Pure signing and checking; the FastAPI dependencies that
use them (and compare ``sv`` with the user's current version) live in :mod:`feed_api.deps`, the token
endpoints in :mod:`feed_api.auth`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
AUDIENCE = "reelflow-api"
# Tokens for a URL (``GET /v1/me/notifications/stream?access_token=``): no other route accepts them, so one that
# leaks through a log or the browser's history opens that stream only, and only for its few minutes.
STREAM_AUDIENCE = "reelflow-notification-stream"


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Claims:
    user_id: str
    session_version: int


# API tokens already verified by this process: token -> (claims, exp). A JWT is immutable and checked against
# one secret, so a token that verified once verifies again until it expires; the dict read saves PyJWT's
# parse, HMAC and claim checks on every request (~6 % of a feed page). Bounded; emptied when full.
VERIFIED_MAX = 50_000


class TokenSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        if len(secret) < 16:
            raise ValueError("the API secret must be at least 16 characters")
        self._secret, self.ttl_s = secret, ttl_s
        self._verified: dict[str, tuple[Claims, float]] = {}

    def issue(self, user_id: str, *, sv: int = 0, ttl_s: int | None = None, now: float | None = None,
              audience: str = AUDIENCE) -> str:
        now = time.time() if now is None else now
        claims = {"sub": user_id, "iat": int(now), "exp": int(now + (ttl_s or self.ttl_s)), "aud": audience,
                  "sv": sv}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, *, audiences: tuple[str, ...] = (AUDIENCE,)) -> str:
        """The user id, or TokenError with a sentence a client can act on."""
        return self.claims(token, audiences=audiences).user_id

    def claims(self, token: str, *, audiences: tuple[str, ...] = (AUDIENCE,)) -> Claims:
        """The user id and session version, or TokenError. ``audiences``: which kinds of token the caller takes
        (an API route: API tokens only)."""
        api_only = audiences == (AUDIENCE,)
        if api_only:
            hit = self._verified.get(token)
            if hit is not None and time.time() < hit[1]:
                return hit[0]
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=list(audiences),
                                options={"require": ["sub", "exp"]})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the token has expired; get a new one") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"the token is not valid ({exc})") from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenError("the token names no user")
        sv = claims.get("sv", 0)
        if not isinstance(sv, int) or isinstance(sv, bool) or sv < 0:
            raise TokenError("the token's session version is not valid")
        out = Claims(sub, sv)
        exp = claims.get("exp")
        if api_only and isinstance(exp, int | float):  # "require" guarantees exp; PyJWT checked its type
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[token] = (out, float(exp))
        return out
