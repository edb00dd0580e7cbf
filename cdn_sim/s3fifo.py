"""S3-FIFO eviction over a byte capacity (Yang et al., "FIFO queues are all you need for cache
eviction", SOSP '23).

Three FIFO queues:

* **S**, small (10 % of the bytes): every new object enters here. Most objects in CDN traces are
  requested once ("one-hit wonders"); S lets them go after a short probation, without letting them
  push proven objects out.
* **M**, main (the other 90 %): objects that were hit while in S (frequency >= 1) move here with their
  frequency cleared. M is FIFO with reinsertion: the oldest object is re-queued with frequency - 1
  while its frequency is above 0, otherwise evicted (a 2-bit CLOCK).
* **G**, ghost: keys (no data) of objects S evicted unhit. A miss on a ghost key goes straight to M,
  because a second request soon after the first is evidence of popularity. The paper keeps as many
  ghost entries as M holds objects; with variable sizes we bound G by key count at the number of
  objects cached (about M's count in steady state, and still useful while M is filling).

Frequencies are capped at 3 (two bits). Objects larger than the whole cache are refused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from cdn_sim.cache import ByteCache, CacheStats, V, check_capacity, check_size, check_stream

_MAX_FREQ = 3


class S3FIFOCache(ByteCache[V]):
    """S3-FIFO bounded by total bytes; see the module docstring."""

    def __init__(self, capacity_bytes: int, small_ratio: float = 0.1) -> None:
        self.capacity = check_capacity(capacity_bytes)
        if not 0 < small_ratio < 1:
            raise ValueError(f"small_ratio must be between 0 and 1, got {small_ratio}")
        self.small_target = max(1, int(self.capacity * small_ratio))
        self.main_target = self.capacity - self.small_target
        self.used = 0
        self.stats = CacheStats()
        # key -> [value, size, freq]; OrderedDict order is FIFO order (first = oldest = tail).
        self._small: OrderedDict[Hashable, list[Any]] = OrderedDict()
        self._main: OrderedDict[Hashable, list[Any]] = OrderedDict()
        self._ghost: OrderedDict[Hashable, None] = OrderedDict()
        self.small_used = 0
        self.main_used = 0

    def __len__(self) -> int:
        return len(self._small) + len(self._main)

    def __contains__(self, key: object) -> bool:
        return key in self._small or key in self._main

    def keys(self) -> Iterator[Hashable]:
        return iter([*self._small, *self._main])

    def queue_of(self, key: Hashable) -> str | None:
        """"small", "main", "ghost" or None; for tests and debugging."""
        if key in self._small:
            return "small"
        if key in self._main:
            return "main"
        return "ghost" if key in self._ghost else None

    def _entry(self, key: Hashable) -> list[Any] | None:
        entry = self._small.get(key)
        return entry if entry is not None else self._main.get(key)

    def get(self, key: Hashable) -> V | None:
        entry = self._entry(key)
        if entry is None:
            self.stats.misses += 1
            return None
        if entry[2] < _MAX_FREQ:
            entry[2] += 1
        self.stats.hits += 1
        self.stats.hit_bytes += entry[1]
        return entry[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        check_size(size)
        if size > self.capacity:
            self.stats.rejected += 1
            return False
        self.remove(key)
        self._insert(key, value, size)
        return True

    def access(self, key: Hashable, size: int) -> bool:
        entry = self._small.get(key)
        if entry is None:
            entry = self._main.get(key)
        stats = self.stats
        if entry is not None:
            if entry[2] < _MAX_FREQ:
                entry[2] += 1
            stats.hits += 1
            stats.hit_bytes += entry[1]
            return True
        if not stats.admit_miss(size, self.capacity):
            return False
        self._insert(key, None, size)
        return False

    def replay(self, keys: Sequence[Hashable], sizes: Sequence[int]) -> list[bool]:
        # access() with the hit path inlined: the simulator spends most of its time here.
        check_stream(keys, sizes)
        small_get, main_get, insert, stats = self._small.get, self._main.get, self._insert, self.stats
        capacity = self.capacity
        out: list[bool] = []
        append = out.append
        hits = hit_bytes = miss_bytes = rejected = 0
        for key, size in zip(keys, sizes):  # noqa: B905  # lengths checked above
            entry = small_get(key)
            if entry is None:
                entry = main_get(key)
            if entry is not None:
                if entry[2] < _MAX_FREQ:
                    entry[2] += 1
                hits += 1
                hit_bytes += entry[1]
                append(True)
                continue
            append(False)
            miss_bytes += size
            if size > capacity:
                rejected += 1
            else:
                insert(key, None, size)
        stats.add_replay(len(out), hits, hit_bytes, miss_bytes, rejected)
        return out

    def remove(self, key: Hashable) -> bool:
        entry = self._small.pop(key, None)
        if entry is not None:
            self.small_used -= entry[1]
        else:
            entry = self._main.pop(key, None)
            if entry is None:
                return False
            self.main_used -= entry[1]
        self.used -= entry[1]
        return True

    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        while self.used + size > self.capacity:
            if self._small and (self.small_used >= self.small_target or not self._main):
                self._evict_small()
            else:
                self._evict_main()
        if key in self._ghost:  # requested again soon after S let it go: skip probation
            del self._ghost[key]
            self._main[key] = [value, size, 0]
            self.main_used += size
        else:
            self._small[key] = [value, size, 0]
            self.small_used += size
        self.used += size

    def _evict_small(self) -> None:
        """Move hit objects from S's tail to M until one unhit object leaves for the ghost queue."""
        small, main = self._small, self._main
        while small:
            key, entry = small.popitem(last=False)
            size = entry[1]
            self.small_used -= size
            if entry[2] >= 1:
                entry[2] = 0
                main[key] = entry
                self.main_used += size
                if self.main_used > self.main_target:
                    self._evict_main()
            else:
                self.used -= size
                self.stats.evictions += 1
                ghost = self._ghost
                ghost[key] = None
                limit = max(1, len(small) + len(main))
                while len(ghost) > limit:
                    ghost.popitem(last=False)
                return

    def _evict_main(self) -> None:
        """FIFO with reinsertion: re-queue the tail while its frequency lasts, evict the first at 0."""
        main = self._main
        while main:
            key, entry = main.popitem(last=False)
            if entry[2] > 0:
                entry[2] -= 1
                main[key] = entry
            else:
                self.main_used -= entry[1]
                self.used -= entry[1]
                self.stats.evictions += 1
                return
