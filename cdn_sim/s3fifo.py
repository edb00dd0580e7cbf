"""S3-FIFO eviction over a byte capacity (Yang et al., "FIFO queues are all you need for cache
eviction", SOSP '23), as the paper's Algorithm 1 and its authors' libCacheSim ``S3FIFO.c`` have it.

Three FIFO queues:

* **S**, small (10 % of the bytes): every new object enters here. Most objects in CDN traces are
  requested once ("one-hit wonders"); S lets them go after a short probation, without letting them
  push proven objects out.
* **M**, main (the other 90 %): an object leaving S moves here, its frequency cleared, when it was
  hit at least ``move_to_main_threshold`` times while in S (Algorithm 1: ``t.freq > 1``, libCacheSim's
  ``move-to-main-threshold=2``: one hit in S is not yet evidence, a burst of a view's retries can give
  it). M is FIFO with reinsertion: the oldest object is re-queued with frequency - 1 while its
  frequency is above 0, otherwise evicted (a 2-bit CLOCK).
* **G**, ghost: keys (no data) of objects S evicted without promotion. A miss on a ghost key goes
  straight to M, because a second request soon after the first is evidence of popularity. The paper
  keeps as many ghost entries as M holds objects; with variable sizes, like libCacheSim, G is bounded
  in bytes by the objects it remembers, at M's share of the capacity (``ghost_ratio`` 0.9).

Which queue gives way (libCacheSim's ``S3FIFO_evict``): M when it is over its share or S is empty,
otherwise S. Evicting from S moves every promotable object at its tail to M (M may overshoot its
share; the next eviction then comes from M) until one object leaves for G. While the cache fills
(before its first eviction), newcomers beyond S's share go straight to M, as in libCacheSim. Frequencies
are capped at 3 (two bits). Objects larger than the whole cache are refused.

Replayed through libCacheSim 0.3.5's ``S3FIFO`` at its defaults, the hit/miss sequence is identical
request for request (``tests/unit/test_cache_vfreq.py``). One difference is kept on purpose:
libCacheSim refuses an object of S's size or more (unless G remembers it); here it is admitted and
leaves S at the next eviction unless hit, so a small live cache (tests, a dev edge) still caches large
segments. No object in the simulator's traces comes near 10 % of a cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from cdn_sim.cache import ByteCache, CacheStats, V, check_capacity, check_size, check_stream

_MAX_FREQ = 3


class S3FIFOCache(ByteCache[V]):
    """S3-FIFO bounded by total bytes; see the module docstring."""

    def __init__(self, capacity_bytes: int, small_ratio: float = 0.1, ghost_ratio: float = 0.9,
                 move_to_main_threshold: int = 2) -> None:
        self.capacity = check_capacity(capacity_bytes)
        if not 0 < small_ratio < 1:
            raise ValueError(f"small_ratio must be between 0 and 1, got {small_ratio}")
        if ghost_ratio < 0:
            raise ValueError(f"ghost_ratio cannot be negative, got {ghost_ratio}")
        if not 1 <= move_to_main_threshold <= _MAX_FREQ:
            raise ValueError(f"move_to_main_threshold must be 1 to {_MAX_FREQ}, got {move_to_main_threshold}")
        self.small_target = max(1, int(self.capacity * small_ratio))
        self.main_target = self.capacity - self.small_target
        self.ghost_target = int(self.capacity * ghost_ratio)
        self.threshold = move_to_main_threshold
        self.used = 0
        self.stats = CacheStats()
        # key -> [value, size, freq]; OrderedDict order is FIFO order (first = oldest = tail).
        self._small: OrderedDict[Hashable, list[Any]] = OrderedDict()
        self._main: OrderedDict[Hashable, list[Any]] = OrderedDict()
        self._ghost: OrderedDict[Hashable, int] = OrderedDict()  # key -> size it had
        self.small_used = 0
        self.main_used = 0
        self.ghost_used = 0
        self.filling = True  # until the first eviction; see _insert

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
        self._drop(key)  # a replacement keeps the ghost key: put() is how the live tier admits a miss
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
        # A purge forgets the ghost too: a purged object earns no shortcut past probation.
        ghost_size = self._ghost.pop(key, None)
        if ghost_size is not None:
            self.ghost_used -= ghost_size
        return self._drop(key)

    def _drop(self, key: Hashable) -> bool:
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
        # The ghost is consulted (and the key dropped from it) before evicting, as libCacheSim's find
        # does: the evictions below push keys into G and could otherwise push this one out.
        ghost_size = self._ghost.pop(key, None)
        if ghost_size is not None:
            self.ghost_used -= ghost_size
        while self.used + size > self.capacity:
            self.filling = False
            if self.main_used > self.main_target or not self._small:
                self._evict_main()
            else:
                self._evict_small()
        # Requested again soon after S let it go: skip probation. And while the cache has never been
        # full, nothing competes for room: once S has its share, newcomers go to M (libCacheSim does the
        # same), instead of S ballooning to the whole cache and flushing it all into G at the first eviction.
        if ghost_size is not None or (self.filling and self.small_used >= self.small_target):
            self._main[key] = [value, size, 0]
            self.main_used += size
        else:
            self._small[key] = [value, size, 0]
            self.small_used += size
        self.used += size

    def _evict_small(self) -> None:
        """Move promotable objects from S's tail to M until one object leaves for the ghost queue."""
        small, main, threshold = self._small, self._main, self.threshold
        while small:
            key, entry = small.popitem(last=False)
            size = entry[1]
            self.small_used -= size
            if entry[2] >= threshold:
                entry[2] = 0
                main[key] = entry
                self.main_used += size
            else:
                self.used -= size
                self.stats.evictions += 1
                self._remember(key, size)
                return

    def _remember(self, key: Hashable, size: int) -> None:
        """Add a ghost key; G is a FIFO bounded by the bytes of the objects it remembers."""
        if size > self.ghost_target:
            return
        ghost = self._ghost
        ghost[key] = size
        self.ghost_used += size
        while self.ghost_used > self.ghost_target:
            self.ghost_used -= ghost.popitem(last=False)[1]

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
