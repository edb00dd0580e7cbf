"""Byte-capacity caches as plain classes over keys and sizes (no I/O, no clock of their own).

:class:`ByteCache` is the interface every eviction policy implements (LRU here, SIEVE in
:mod:`cdn_sim.sieve`, S3-FIFO in :mod:`cdn_sim.s3fifo`, video-frequency in
:mod:`cdn_sim.vfreq`); :func:`make_cache` builds one by name, so a
tier or the trace simulator picks its policy from configuration. Belady's MIN needs the future and is
therefore not an online cache: see :mod:`cdn_sim.belady`.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    hit_bytes: int = 0
    miss_bytes: int = 0
    evictions: int = 0
    rejected: int = 0  # objects larger than the whole cache

    def admit_miss(self, size: int, capacity: int) -> bool:
        """Count a miss of ``size`` bytes; False (counted as rejected) when it can never fit ``capacity``."""
        check_size(size)
        self.misses += 1
        self.miss_bytes += size
        if size > capacity:
            self.rejected += 1
            return False
        return True

    def add_replay(self, requests: int, hits: int, hit_bytes: int, miss_bytes: int, rejected: int,
                   evictions: int = 0) -> None:
        """Fold in the totals a policy's fast ``replay`` loop kept in locals (attribute writes per request are slow)."""
        self.hits += hits
        self.misses += requests - hits
        self.hit_bytes += hit_bytes
        self.miss_bytes += miss_bytes
        self.rejected += rejected
        self.evictions += evictions


def check_capacity(capacity_bytes: int) -> int:
    """The capacity as a plain int (NumPy integers welcome); positive or a ValueError."""
    if isinstance(capacity_bytes, bool):
        raise TypeError("cache capacity must be a number of bytes, not a bool")
    try:
        capacity = operator.index(capacity_bytes)
    except TypeError:
        raise TypeError(f"cache capacity must be an integer number of bytes, got {capacity_bytes!r}") from None
    if capacity <= 0:
        raise ValueError("cache capacity must be positive")
    return capacity


def check_size(size: int) -> None:
    # Zero is allowed: an empty object is legitimate and costs no capacity.
    if size < 0:
        raise ValueError(f"object size cannot be negative, got {size}")


def check_stream(keys: Sequence[Hashable], sizes: Sequence[int]) -> None:
    if len(keys) != len(sizes):
        raise ValueError(f"{len(keys)} keys but {len(sizes)} sizes")
    if len(sizes) and min(sizes) < 0:
        raise ValueError("object sizes cannot be negative")


class ByteCache(ABC, Generic[V]):
    """A cache bounded by the sum of its objects' sizes in bytes.

    Implementations keep ``used <= capacity`` at all times, refuse (``put`` returns False and
    ``stats.rejected`` counts it) any object larger than the whole cache, and count hits and misses
    in ``stats`` on ``get``. Keys are any hashable; ``remove_prefix`` only considers ``str`` keys.
    """

    capacity: int
    used: int
    stats: CacheStats

    @abstractmethod
    def get(self, key: Hashable) -> V | None:
        """The value on a hit (which the policy records as an access), None on a miss."""

    @abstractmethod
    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Insert or replace; False when the object can never fit."""

    @abstractmethod
    def remove(self, key: Hashable) -> bool:
        """Drop one object (a purge, not an eviction); False when it was not cached."""

    @abstractmethod
    def keys(self) -> Iterator[Hashable]:
        """The cached keys, in no promised order."""

    @abstractmethod
    def __contains__(self, key: object) -> bool: ...

    @abstractmethod
    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Hashable]:
        return self.keys()

    def remove_prefix(self, prefix: str) -> int:
        """Purge every ``str`` key that starts with ``prefix`` (e.g. a video's publication)."""
        doomed = [k for k in self.keys() if isinstance(k, str) and k.startswith(prefix)]
        for k in doomed:
            self.remove(k)
        return len(doomed)

    def hint(self, key: Hashable, views: float) -> None:
        """A forecast from outside the request stream (a push's reason: ``views`` expected soon for
        ``key``'s video). Policies that value objects by popularity use it; the default ignores it."""

    def access(self, key: Hashable, size: int) -> bool:
        """One request as a CDN tier sees it: a hit, or a miss that fetches and admits the object.

        The simulator's hot path; policies override it to skip the value bookkeeping.
        """
        if self.get(key) is not None:  # get() counts the hit or the miss
            return True
        self.stats.miss_bytes += size
        self.put(key, True, size)  # type: ignore[arg-type]  # simulation stores no payload
        return False

    def replay(self, keys: Sequence[Hashable], sizes: Sequence[int]) -> list[bool]:
        """Feed a request stream through the cache; one hit flag per request."""
        check_stream(keys, sizes)
        access = self.access
        return [access(k, s) for k, s in zip(keys, sizes, strict=True)]


class LRUCache(ByteCache[V]):
    """Least-recently-used eviction bounded by total bytes, not entry count."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity = check_capacity(capacity_bytes)
        self.used = 0
        self.stats = CacheStats()
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        self.stats.hit_bytes += entry[1]
        return entry[0]

    def put(self, key: str, value: V, size: int) -> bool:
        """Insert or replace; False when the object can never fit."""
        check_size(size)
        if size > self.capacity:
            self.stats.rejected += 1
            return False
        self.remove(key)
        while self.used + size > self.capacity:
            _, (_, evicted_size) = self._entries.popitem(last=False)
            self.used -= evicted_size
            self.stats.evictions += 1
        self._entries[key] = (value, size)
        self.used += size
        return True

    def remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self.used -= entry[1]
        return True

    def remove_prefix(self, prefix: str) -> int:
        keys = [k for k in self._entries if isinstance(k, str) and k.startswith(prefix)]
        for k in keys:
            self.remove(k)
        return len(keys)

    def keys(self) -> Iterator[Hashable]:
        return iter(list(self._entries))

    def access(self, key: Hashable, size: int) -> bool:
        entries = self._entries
        stats = self.stats
        if key in entries:
            entries.move_to_end(key)
            stats.hits += 1
            stats.hit_bytes += entries[key][1]
            return True
        if not stats.admit_miss(size, self.capacity):
            return False
        used = self.used + size
        while used > self.capacity:
            _, (_, evicted_size) = entries.popitem(last=False)
            used -= evicted_size
            stats.evictions += 1
        entries[key] = (None, size)  # type: ignore[assignment]  # simulation stores no payload
        self.used = used
        return False

    def replay(self, keys: Sequence[Hashable], sizes: Sequence[int]) -> list[bool]:
        # access() inlined: the simulator spends most of its time here.
        check_stream(keys, sizes)
        entries, stats, capacity = self._entries, self.stats, self.capacity
        get, move, popitem = entries.get, entries.move_to_end, entries.popitem
        used = self.used
        out: list[bool] = []
        append = out.append
        hits = hit_bytes = miss_bytes = evictions = rejected = 0
        for key, size in zip(keys, sizes):  # noqa: B905  # lengths checked above
            entry = get(key)
            if entry is not None:
                move(key)
                hits += 1
                hit_bytes += entry[1]
                append(True)
                continue
            append(False)
            miss_bytes += size
            if size > capacity:
                rejected += 1
                continue
            used += size
            while used > capacity:
                used -= popitem(last=False)[1][1]
                evictions += 1
            entries[key] = (None, size)  # type: ignore[assignment]
        self.used = used
        stats.add_replay(len(out), hits, hit_bytes, miss_bytes, rejected, evictions)
        return out


POLICIES: tuple[str, ...] = ("lru", "sieve", "s3fifo", "vfreq")
"""Online eviction policies :func:`make_cache` builds. The offline reference is ``belady`` (simulator only)."""


def make_cache(policy: str, capacity_bytes: int) -> ByteCache:
    """A byte-capacity cache with the named eviction policy."""
    # Imported here: the policy modules import this one for ByteCache.
    if policy == "lru":
        return LRUCache(capacity_bytes)
    if policy == "sieve":
        from cdn_sim.sieve import SieveCache

        return SieveCache(capacity_bytes)
    if policy == "s3fifo":
        from cdn_sim.s3fifo import S3FIFOCache

        return S3FIFOCache(capacity_bytes)
    if policy == "vfreq":
        from cdn_sim.vfreq import VideoFrequencyCache

        return VideoFrequencyCache(capacity_bytes)
    if policy == "belady":
        raise ValueError("belady needs the future request stream: use cdn_sim.belady.belady_replay")
    raise ValueError(f"unknown cache policy {policy!r}; known: {', '.join(POLICIES)}")
