"""Redis for the API, behind a circuit breaker: after a failure, Redis is skipped for ``cooldown_s`` so
every request during an outage goes straight to the PostgreSQL fallbacks instead of waiting on timeouts.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis
import redis.asyncio as aredis

from adapters.live_store import (
    FOR_YOU_HEAD,
    GCRA,
    GCRA_REFUND,
    MARK_SEEN,
    POOL_UNSEEN,
    SESSION_VERSION_MAX,
    TAKE_COUNTERS,
    UPDATE_PROFILE,
    Keys,
)
from adapters.resp_lane import RespLane

log = logging.getLogger("feed_api.live")
T = TypeVar("T")
REDIS_ERRORS = (redis.RedisError, OSError)
SCRIPTS = {"gcra": GCRA, "pool_unseen": POOL_UNSEEN, "mark_seen": MARK_SEEN, "profile": UPDATE_PROFILE,
           "take": TAKE_COUNTERS, "gcra_refund": GCRA_REFUND, "sv_max": SESSION_VERSION_MAX,
           "for_you_head": FOR_YOU_HEAD}


class LiveUnavailable(RuntimeError):
    """Redis is down (or was a moment ago): use the fallback."""


class LiveBusy(RuntimeError):
    """No Redis connection came free in time: this process is overloaded, Redis is fine. Falling back to
    PostgreSQL (the costlier path) would turn overload into collapse, so the API sheds the request (503)."""


def _pool_exhausted(exc: BaseException) -> bool:
    # What BlockingConnectionPool raises when its wait times out (redis-py has no dedicated class for it).
    return isinstance(exc, redis.ConnectionError) and "No connection available" in str(exc)


class Live:
    def __init__(self, url: str, prefix: str, *, cooldown_s: float = 2.0, timeout_s: float = 0.25) -> None:
        opts = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s, "decode_responses": True}
        self.url = url
        self.keys = Keys(prefix)
        # Blocking pools: under a burst, requests wait for a connection instead of failing with "Too many
        # connections", which would open the breaker and send the burst to PostgreSQL, the costlier path.
        self.aio = aredis.Redis(connection_pool=aredis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=2, **opts))
        self.sync = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
            url, max_connections=48, timeout=2, **opts))
        # The feed's hot commands (a page's two script calls, the session version) go over one multiplexed
        # connection with a C parser (adapters.resp_lane): a fraction of redis-py's CPU per command.
        self.lane: RespLane | None = RespLane(url, timeout_s=timeout_s, connect_timeout_s=timeout_s) \
            if url.startswith("redis://") else None
        self.cooldown_s = cooldown_s
        self._down_until = 0.0
        self._last_log = 0.0
        # EVALSHA by hand: redis-py's registered scripts cost a SCRIPT EXISTS round trip per pipeline.
        self.sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in SCRIPTS.items()}

    def script(self, client, name: str, keys: list[str], args: list) -> object:
        """Queue (pipeline) or send (client) one of SCRIPTS; a NOSCRIPT reply is handled by run()."""
        return client.evalsha(self.sha[name], len(keys), *keys, *args)

    async def _load_scripts(self) -> None:
        for src in SCRIPTS.values():
            await self.aio.script_load(src)

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.cooldown_s
        if time.monotonic() - self._last_log > 10:  # one line per outage, not one per request
            self._last_log = time.monotonic()
            log.warning("Redis unavailable (%s); serving from PostgreSQL for the next %.1f s", exc, self.cooldown_s)

    async def run(self, op: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        if not self.up:
            raise LiveUnavailable("redis is in cool-down")
        try:
            try:
                return await op(self.aio)
            except redis.exceptions.NoScriptError:  # a fresh Redis (restarted, flushed): load and retry once
                await self._load_scripts()
                return await op(self.aio)
        except REDIS_ERRORS as exc:
            if _pool_exhausted(exc):
                raise LiveBusy(str(exc)) from exc
            self.failed(exc)
            raise LiveUnavailable(str(exc)) from exc

    async def fast(self, op: Callable[[RespLane | aredis.Redis], Awaitable[T]]) -> T:
        """Like :meth:`run`, over the lane (redis-py's client where the lane does not apply: TLS). ``op`` may
        call ``get``, ``evalsha`` and :meth:`script` only."""
        if self.lane is None:
            return await self.run(op)
        if not self.up:
            raise LiveUnavailable("redis is in cool-down")
        try:
            try:
                return await op(self.lane)
            except redis.exceptions.NoScriptError:
                await self._load_scripts()
                return await op(self.lane)
        except REDIS_ERRORS as exc:
            self.failed(exc)
            raise LiveUnavailable(str(exc)) from exc

    def run_sync(self, op: Callable[[redis.Redis], T]) -> T:
        if not self.up:
            raise LiveUnavailable("redis is in cool-down")
        try:
            try:
                return op(self.sync)
            except redis.exceptions.NoScriptError:
                for src in SCRIPTS.values():
                    self.sync.script_load(src)
                return op(self.sync)
        except REDIS_ERRORS as exc:
            if _pool_exhausted(exc):
                raise LiveBusy(str(exc)) from exc
            self.failed(exc)
            raise LiveUnavailable(str(exc)) from exc

    async def aclose(self) -> None:
        if self.lane is not None:
            await self.lane.aclose()
        await self.aio.aclose()
        self.sync.close()
