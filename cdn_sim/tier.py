"""A cache tier in front of an upstream: freshness from Cache-Control, coalesced misses, stale on error.

The tier is asyncio glue over a byte-capacity cache (:class:`~cdn_sim.cache.LRUCache` by default, or any
object with its interface, so eviction policies plug in). Concurrent misses for one key share one upstream
fetch, so a burst for an uncached segment costs the upstream a single request. Tiers chain: a tier's
:meth:`CacheTier.fetch` is a valid upstream for the tier below it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cdn_sim.cache import LRUCache
from cdn_sim.freshness import max_age_s


@dataclass(frozen=True)
class CachedObject:
    body: bytes
    content_type: str
    cache_control: str | None
    etag: str | None
    expires_at: float = 0.0
    # Clock time the origin produced this response. Tiers pass it down unchanged, so an object that sat
    # 50 s in the shield has 10 s of a 60 s max-age left at the edge (what the Age header does on the wire).
    date: float | None = None
    stale: bool = False  # in transit only: an upstream tier answered with an expired copy (origin trouble)

    @property
    def size(self) -> int:
        return len(self.body)


class NotFound(KeyError):
    pass


Fetch = Callable[[str], Awaitable[CachedObject]]


class TierCache(Protocol):
    """What a tier needs from its cache; LRUCache and the policies of cdn_sim.cache provide it."""

    capacity: int
    used: int
    stats: Any  # has .evictions

    def __len__(self) -> int: ...
    def get(self, key: str) -> Any | None: ...
    def put(self, key: str, value: Any, size: int) -> bool: ...
    def remove(self, key: str) -> bool: ...
    def remove_prefix(self, prefix: str) -> int: ...


class Outcome(enum.Enum):
    HIT = "HIT"  # fresh in this tier
    MISS = "MISS"  # fetched from upstream (or waited for a fetch already under way)
    STALE = "STALE"  # expired copy served because upstream failed


@dataclass
class TierCounters:
    """Everything is counted per request answered by this tier, except where noted."""

    hits: int = 0
    misses: int = 0
    hit_bytes: int = 0
    miss_bytes: int = 0
    coalesced: int = 0  # misses that joined a fetch already in flight instead of starting one
    upstream_fetches: int = 0  # per fetch started
    upstream_errors: int = 0  # per fetch failed (not-found excluded)
    not_found: int = 0  # per fetch answered "no such object"
    stale_served: int = 0
    prefetched: int = 0  # objects pushed into this tier ahead of demand (per fetch)
    prefetched_bytes: int = 0
    purged: int = 0  # objects removed by purges


def _storable(cache_control: str | None) -> bool:
    """A shared cache must not keep no-store or private responses (RFC 9111 §3)."""
    if not cache_control:
        return True
    names = {part.strip().split("=", 1)[0].strip().lower() for part in cache_control.split(",")}
    return not names & {"no-store", "private"}


class CacheTier:
    def __init__(self, name: str, cache: int | TierCache, upstream: Fetch, *, level: str = "edge",
                 clock: Callable[[], float] = time.monotonic, max_stale_s: float = math.inf) -> None:
        """``cache`` is a byte capacity (an LRU of that size) or a cache object to use as is."""
        self.name = name
        self.level = level  # edge / regional / shield: a metrics label
        self.cache: TierCache = LRUCache(cache) if isinstance(cache, int) else cache
        self.upstream = upstream
        self.clock = clock
        self.max_stale_s = max_stale_s
        self.counters = TierCounters()
        self._inflight: dict[str, asyncio.Future[tuple[CachedObject, Outcome]]] = {}
        # Purges since the oldest fetch in flight: a fetch that started before a purge of its key must
        # not store what it brings back, or a deleted video would reappear from a fetch racing the purge.
        self._epoch = 0
        self._purges: list[tuple[int, str]] = []
        self._running = 0  # fills under way, including those a purge detached from _inflight

    async def get(self, key: str) -> tuple[CachedObject, bool]:
        """The object and whether it was a fresh hit here. Raises :class:`NotFound` from upstream."""
        obj, outcome = await self.lookup(key)
        return obj, outcome is Outcome.HIT

    async def fetch(self, key: str) -> CachedObject:
        """This tier as the upstream of another."""
        obj, outcome = await self.lookup(key)
        return dataclasses.replace(obj, stale=True) if outcome is Outcome.STALE else obj

    async def lookup(self, key: str) -> tuple[CachedObject, Outcome]:
        cached = self.cache.get(key)
        if cached is not None and cached.expires_at > self.clock():
            self.counters.hits += 1
            self.counters.hit_bytes += cached.size
            return cached, Outcome.HIT
        self.counters.misses += 1
        fill = self._inflight.get(key)
        if fill is None:
            fill = self._start_fill(key, cached)
        else:
            self.counters.coalesced += 1
        # shield: a requester that goes away (stream reset, timeout) must not cancel the others' fetch.
        obj, outcome = await asyncio.shield(fill)
        self.counters.miss_bytes += obj.size
        if outcome is Outcome.STALE:
            self.counters.stale_served += 1
        return obj, outcome

    async def prefetch(self, key: str) -> CachedObject | None:
        """Bring ``key`` in ahead of demand; None when it was already fresh. Not counted as a hit or miss."""
        cached = self.cache.get(key)
        if cached is not None and cached.expires_at > self.clock():
            return None
        fill = self._inflight.get(key) or self._start_fill(key, cached)
        obj, _ = await asyncio.shield(fill)
        self.counters.prefetched += 1
        self.counters.prefetched_bytes += obj.size
        return obj

    def purge_prefix(self, prefix: str) -> int:
        """Drop every object under ``prefix``; fetches in flight for it will not be stored."""
        self._epoch += 1
        if self._running:
            self._purges.append((self._epoch, prefix))
        for key in [k for k in self._inflight if k.startswith(prefix)]:
            del self._inflight[key]  # later requests start a fresh fetch; current waiters still get theirs
        removed = self.cache.remove_prefix(prefix)
        self.counters.purged += removed
        return removed

    def _start_fill(self, key: str, cached: CachedObject | None) -> asyncio.Future[tuple[CachedObject, Outcome]]:
        # The fetch is a task of its own rather than the first requester's coroutine, so that it does not
        # die with that requester.
        fill = asyncio.ensure_future(self._fill(key, cached, self._epoch))
        fill.add_done_callback(_retrieve)
        self._inflight[key] = fill
        self._running += 1
        self.counters.upstream_fetches += 1
        return fill

    async def _fill(self, key: str, cached: CachedObject | None, epoch: int) -> tuple[CachedObject, Outcome]:
        try:
            fetched = await self.upstream(key)
        except NotFound:
            self.counters.not_found += 1
            self._done(key)
            self.cache.remove(key)  # the origin says it is gone: do not keep serving it
            raise
        except Exception:
            self.counters.upstream_errors += 1
            purged = self._purged_since(epoch, key)
            self._done(key)
            # Origin trouble: a stale copy beats an error (stale-if-error, RFC 5861), unless it was purged.
            if cached is not None and not purged and self.clock() - cached.expires_at <= self.max_stale_s:
                return cached, Outcome.STALE
            raise
        except BaseException:
            self._done(key)
            raise
        now = self.clock()
        date = fetched.date if fetched.date is not None else now
        obj = dataclasses.replace(fetched, date=date, expires_at=date + max_age_s(fetched.cache_control),
                                  stale=False)
        purged = self._purged_since(epoch, key)
        self._done(key)
        if _storable(obj.cache_control) and not purged:
            self.cache.put(key, obj, obj.size)
        return obj, Outcome.STALE if fetched.stale else Outcome.MISS

    def _purged_since(self, epoch: int, key: str) -> bool:
        return any(e > epoch and key.startswith(p) for e, p in self._purges)

    def _done(self, key: str) -> None:
        fill = self._inflight.get(key)
        if fill is not None and fill is asyncio.current_task():
            del self._inflight[key]
        self._running -= 1
        if not self._running:
            self._purges.clear()


def _retrieve(fill: asyncio.Future[Any]) -> None:
    # Mark the exception retrieved: when every requester has gone, asyncio must not log it as lost.
    if not fill.cancelled():
        fill.exception()
