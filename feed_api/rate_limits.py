"""Rate limits: GCRA in Redis (``adapters.live_store.GCRA``), one budget per class of request.

The general budget holds every authenticated request (per user) and anonymous reads (per client IP). The
classes below have budgets of their own, with their own keys, so they neither eat nor are eaten by the
general one: a comment flood leaves the same account's reads alone, and a read flood its comments. Every
limit fails open while Redis is down (logged by ``Live``): an outage must not lock users out.

The client IP is ``request.client.host``, which uvicorn rewrites from ``X-Forwarded-For`` only for peers in
``--forwarded-allow-ips`` (``FORWARDED_ALLOW_IPS``; default 127.0.0.1). This module never reads the header
itself: any client can write one.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from fastapi import Request

from config.settings import Settings
from feed_api.errors import ApiError
from feed_api.live import LiveUnavailable

if TYPE_CHECKING:  # services builds its rates from this module
    from feed_api.services import Services

IPV6_CLIENT_PREFIX = 64  # one subscriber gets a whole /64: keying on the address would let it rotate freely


class Budget(StrEnum):
    GENERAL = ""  # keeps the key it always had, rl:{subject}
    SIGNUP = "signup"  # POST /v1/users and POST /v1/auth/dev-token, per client IP
    COMMENT = "comment"  # POST /v1/videos/{id}/comments, per account
    FOLLOW = "follow"  # POST and DELETE /v1/users/{id}/follow, per account
    REACTION = "reaction"  # likes, unlikes and shares, per account
    REPORT = "report"  # reports on videos, comments and users, per account (a report flood holds videos)
    LOGIN_ACCOUNT = "login_account"  # sign-in attempts per account (the handle tried); successes give theirs back
    LOGIN_IP = "login_ip"  # sign-in attempts per client IP; successes give theirs back


@dataclass(frozen=True)
class Rate:
    per_s: float
    burst: int

    def gcra_args(self) -> list[float]:
        """GCRA parameters: emission interval and burst tolerance, in milliseconds."""
        interval_ms = 1000.0 / self.per_s
        return [interval_ms, interval_ms * max(self.burst - 1, 0)]


def rates_from(settings: Settings) -> dict[Budget, Rate]:
    return {
        Budget.GENERAL: Rate(settings.rate_limit_per_s, settings.rate_limit_burst),
        Budget.SIGNUP: Rate(settings.signup_limit_per_min / 60, settings.signup_limit_burst),
        Budget.COMMENT: Rate(settings.comment_limit_per_min / 60, settings.comment_limit_burst),
        Budget.FOLLOW: Rate(settings.follow_limit_per_min / 60, settings.follow_limit_burst),
        Budget.REACTION: Rate(settings.reaction_limit_per_min / 60, settings.reaction_limit_burst),
        Budget.REPORT: Rate(settings.report_limit_per_min / 60, settings.report_limit_burst),
        Budget.LOGIN_ACCOUNT: Rate(settings.login_account_limit_per_min / 60, settings.login_account_limit_burst),
        Budget.LOGIN_IP: Rate(settings.login_ip_limit_per_min / 60, settings.login_ip_limit_burst),
    }


def client_subject(request: Request) -> str:
    """The subject of a per-IP limit: the client's address, or its /64 for IPv6."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:  # not an address (a test client's name, a Unix socket): the name is the subject
        return f"ip:{host}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False)}"
    return f"ip:{ip}"


def refuse_if_limited(wait_ms: int | str | None) -> None:
    if wait_ms and int(wait_ms) > 0:
        retry = max(1, math.ceil(int(wait_ms) / 1000))
        raise ApiError(429, "rate_limited", f"too many requests; retry in {retry} s",
                       headers={"Retry-After": str(retry)})


async def rate_limit(svc: Services, subject: str, budget: Budget = Budget.GENERAL) -> None:
    """Spend one request of ``subject``'s ``budget``; 429 with Retry-After when it is spent. Fails open while
    Redis is down."""
    key, args = svc.live.keys.rate(subject, budget), svc.rates[budget].gcra_args()
    try:
        wait_ms = await svc.live.run(lambda r: svc.live.script(r, "gcra", [key], args))
    except LiveUnavailable:
        return
    refuse_if_limited(wait_ms)


# ------------------------------------------------------------------------------- password attempts
def _spend_sync(svc: Services, subject: str, budget: Budget) -> int:
    key, args = svc.live.keys.rate(subject, budget), svc.rates[budget].gcra_args()
    return int(svc.live.run_sync(lambda r: svc.live.script(r, "gcra", [key], args)) or 0)


def _refund_sync(svc: Services, subject: str, budget: Budget) -> None:
    key, args = svc.live.keys.rate(subject, budget), svc.rates[budget].gcra_args()
    svc.live.run_sync(lambda r: svc.live.script(r, "gcra_refund", [key], args[:1]))


def begin_password_attempt(svc: Services, budgets: list[tuple[str, Budget]]) -> None:
    """Spend one attempt of each (subject, budget) before a password is checked; 429 with Retry-After when any
    is spent, whatever the password (a correct one too: otherwise a guesser would learn the answer from the
    lock-out itself). Spending first, not after a failure, keeps concurrent guesses within the budget.
    Successes give theirs back (:func:`end_password_attempt`). Fails open while Redis is down."""
    spent: list[tuple[str, Budget]] = []
    wait = 0
    try:
        for subject, budget in budgets:
            w = _spend_sync(svc, subject, budget)
            if w > 0:
                wait = max(wait, w)
            else:
                spent.append((subject, budget))
        if wait:  # refused: the budgets that allowed this attempt keep their cell
            for subject, budget in spent:
                _refund_sync(svc, subject, budget)
    except LiveUnavailable:
        return
    refuse_if_limited(wait)


def end_password_attempt(svc: Services, budgets: list[tuple[str, Budget]]) -> None:
    """The password was right: give the attempt back, so signing in never eats the budget."""
    try:
        for subject, budget in budgets:
            _refund_sync(svc, subject, budget)
    except LiveUnavailable:
        pass
