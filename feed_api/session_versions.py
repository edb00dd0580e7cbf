"""Each user's current session version, which every authenticated request compares with its token's ``sv``.

The check runs on every request, the feed's too, so it must cost next to nothing. Three layers:

- this process's own copy, trusted for ``cache_s`` seconds (2 by default): a dict read, no I/O;
- Redis (``sv:{user}``, kept ``REDIS_TTL_S``): one GET, ~0.1 ms, when the copy is older;
- PostgreSQL (a primary-key read) when Redis does not have it or is down, written back to Redis with
  ``SET``-if-greater so a slow reader never lowers a version that was just bumped.

Signing out everywhere bumps the version in PostgreSQL, then raises it in Redis and in this process's copy:
this process refuses the old tokens at once, other API processes within ``cache_s`` seconds. If Redis is down
at that moment, its key (if any) expires within ``REDIS_TTL_S``; access tokens live only 15 minutes anyway.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from catalog import accounts
from catalog.db import session_scope
from feed_api.live import Live, LiveUnavailable

REDIS_TTL_S = 600
MAX_LOCAL = 100_000  # bounds memory against many distinct users; cleared (cheap to refill) when reached


class SessionVersions:
    def __init__(self, live: Live, db: sessionmaker[Session], *, cache_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._live, self._db, self._cache_s, self._clock = live, db, cache_s, clock
        self._local: dict[str, tuple[float, int]] = {}  # user -> (trusted until, version)
        self.stats = {"local": 0, "redis": 0, "db": 0}

    def _remember(self, user_id: str, version: int) -> None:
        if self._cache_s <= 0:
            return
        if len(self._local) >= MAX_LOCAL:
            self._local.clear()
        self._local[user_id] = (self._clock() + self._cache_s, version)

    def _from_db(self, user_id: str) -> int | None:
        with session_scope(self._db) as s:
            return accounts.session_version(s, user_id)

    async def current(self, user_id: str) -> int | None:
        """The user's session version; None when the user does not exist."""
        known = self._local.get(user_id)
        if known is not None and known[0] > self._clock():
            self.stats["local"] += 1
            return known[1]
        key = self._live.keys.session_version(user_id)
        version: int | None = None
        try:
            raw = await self._live.fast(lambda r: r.get(key))
            version = int(raw) if raw is not None else None
        except LiveUnavailable:
            pass
        if version is not None:
            self.stats["redis"] += 1
        else:
            self.stats["db"] += 1
            version = await run_in_threadpool(self._from_db, user_id)
            if version is None:
                return None
            with contextlib.suppress(LiveUnavailable):
                await self._live.run(lambda r: self._live.script(r, "sv_max", [key], [version, REDIS_TTL_S]))
        self._remember(user_id, version)
        return version

    def bumped(self, user_id: str, version: int) -> None:
        """After the bump committed (from a handler's worker thread): tell Redis and this process."""
        known = self._local.get(user_id)
        if known is None or known[1] < version:
            self._local[user_id] = (self._clock() + self._cache_s, version)
        key = self._live.keys.session_version(user_id)
        with contextlib.suppress(LiveUnavailable):
            self._live.run_sync(lambda r: self._live.script(r, "sv_max", [key], [version, REDIS_TTL_S]))
