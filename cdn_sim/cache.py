"""Byte-capacity caches as plain classes over keys and sizes (no I/O, no clock of their own)."""

from __future__ import annotations

from collections import OrderedDict
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


class LRUCache(Generic[V]):
    """Least-recently-used eviction bounded by total bytes, not entry count."""

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes <= 0:
            raise ValueError("cache capacity must be positive")
        self.capacity = capacity_bytes
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
        keys = [k for k in self._entries if k.startswith(prefix)]
        for k in keys:
            self.remove(k)
        return len(keys)
