"""A cache tier in front of an upstream: freshness from Cache-Control and coalesced misses.

The tier is asyncio glue over :class:`~cdn_sim.cache.LRUCache`: concurrent misses for one key
share one upstream fetch, so a burst for an uncached segment costs the origin a single request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cdn_sim.cache import LRUCache
from cdn_sim.freshness import max_age_s


@dataclass(frozen=True)
class CachedObject:
    body: bytes
    content_type: str
    cache_control: str | None
    etag: str | None
    expires_at: float = 0.0


class NotFound(KeyError):
    pass


Fetch = Callable[[str], Awaitable[CachedObject]]


@dataclass
class TierCounters:
    upstream_fetches: int = 0
    coalesced: int = 0
    stale_served: int = 0


class CacheTier:
    def __init__(self, name: str, capacity_bytes: int, upstream: Fetch, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.cache: LRUCache[CachedObject] = LRUCache(capacity_bytes)
        self.upstream = upstream
        self.clock = clock
        self.counters = TierCounters()
        self._inflight: dict[str, asyncio.Future[CachedObject]] = {}

    async def get(self, key: str) -> tuple[CachedObject, bool]:
        """The object and whether it was a cache hit. Raises :class:`NotFound` from upstream."""
        cached = self.cache.get(key)
        if cached is not None and cached.expires_at > self.clock():
            return cached, True
        pending = self._inflight.get(key)
        if pending is not None:
            self.counters.coalesced += 1
            return await asyncio.shield(pending), False
        future: asyncio.Future[CachedObject] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self.counters.upstream_fetches += 1
        try:
            fetched = await self.upstream(key)
        except BaseException as exc:
            self._inflight.pop(key, None)
            if isinstance(exc, NotFound):
                self.cache.remove(key)
            elif cached is not None and isinstance(exc, Exception):
                self.counters.stale_served += 1  # origin trouble: a stale copy beats an error
                future.set_result(cached)
                return cached, True
            future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("upstream fetch cancelled"))
            future.exception()  # retrieved: asyncio must not log it when nobody else was waiting
            raise
        self._inflight.pop(key, None)
        obj = CachedObject(fetched.body, fetched.content_type, fetched.cache_control, fetched.etag,
                           expires_at=self.clock() + max_age_s(fetched.cache_control))
        self.cache.put(key, obj, len(obj.body))
        future.set_result(obj)
        return obj, False

    def purge_prefix(self, prefix: str) -> int:
        return self.cache.remove_prefix(prefix)
