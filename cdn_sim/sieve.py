"""SIEVE eviction over a byte capacity (Zhang et al., "SIEVE is Simpler than LRU", NSDI '24).

One FIFO queue of objects, newest at the head, and a *hand* that walks from the tail (oldest) toward
the head. A hit only sets the object's ``visited`` bit; nothing moves. To make room the hand clears
the bits it passes and evicts the first unvisited object, then stays where it stopped for next time;
past the head it wraps to the tail. Survivors keep their place, so new objects sit apart from the
proven ones and one-hit wonders leave quickly ("quick demotion, lazy promotion").

With variable sizes we simply evict until the new object fits, as the paper's byte-sized traces do.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from cdn_sim.cache import ByteCache, CacheStats, V, check_capacity, check_size, check_stream


class _Node:
    __slots__ = ("key", "value", "size", "visited", "newer", "older")

    def __init__(self, key: Hashable, value: Any, size: int) -> None:
        self.key = key
        self.value = value
        self.size = size
        self.visited = False
        self.newer: _Node | None = None  # toward the head
        self.older: _Node | None = None  # toward the tail


class SieveCache(ByteCache[V]):
    """SIEVE bounded by total bytes; see the module docstring."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity = check_capacity(capacity_bytes)
        self.used = 0
        self.stats = CacheStats()
        self._nodes: dict[Hashable, _Node] = {}
        self._head: _Node | None = None  # newest
        self._tail: _Node | None = None  # oldest
        self._hand: _Node | None = None  # None: start from the tail

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, key: object) -> bool:
        return key in self._nodes

    def keys(self) -> Iterator[Hashable]:
        return iter(list(self._nodes))

    def order(self) -> list[Hashable]:
        """Keys from head (newest) to tail (oldest); for tests and debugging."""
        out, node = [], self._head
        while node is not None:
            out.append(node.key)
            node = node.older
        return out

    def get(self, key: Hashable) -> V | None:
        node = self._nodes.get(key)
        if node is None:
            self.stats.misses += 1
            return None
        node.visited = True
        self.stats.hits += 1
        self.stats.hit_bytes += node.size
        return node.value

    def put(self, key: Hashable, value: V, size: int) -> bool:
        check_size(size)
        if size > self.capacity:
            self.stats.rejected += 1
            return False
        self.remove(key)
        self._insert(key, value, size)
        return True

    def access(self, key: Hashable, size: int) -> bool:
        node = self._nodes.get(key)
        stats = self.stats
        if node is not None:
            node.visited = True
            stats.hits += 1
            stats.hit_bytes += node.size
            return True
        if not stats.admit_miss(size, self.capacity):
            return False
        self._insert(key, None, size)
        return False

    def replay(self, keys: Sequence[Hashable], sizes: Sequence[int]) -> list[bool]:
        # access() with the hit path inlined: the simulator spends most of its time here.
        check_stream(keys, sizes)
        get, insert, stats, capacity = self._nodes.get, self._insert, self.stats, self.capacity
        out: list[bool] = []
        append = out.append
        hits = hit_bytes = miss_bytes = rejected = 0
        for key, size in zip(keys, sizes):  # noqa: B905  # lengths checked above
            node = get(key)
            if node is not None:
                node.visited = True
                hits += 1
                hit_bytes += node.size
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
        node = self._nodes.pop(key, None)
        if node is None:
            return False
        if self._hand is node:
            self._hand = node.newer  # the hand keeps walking toward the head
        self._unlink(node)
        self.used -= node.size
        return True

    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        while self.used + size > self.capacity:
            self._evict()
        node = _Node(key, value, size)
        node.older = self._head
        if self._head is not None:
            self._head.newer = node
        self._head = node
        if self._tail is None:
            self._tail = node
        self._nodes[key] = node
        self.used += size

    def _evict(self) -> None:
        node = self._hand or self._tail
        assert node is not None, "evicting from an empty cache"
        while node.visited:
            node.visited = False
            node = node.newer or self._tail
            assert node is not None
        self._hand = node.newer
        del self._nodes[node.key]
        self._unlink(node)
        self.used -= node.size
        self.stats.evictions += 1

    def _unlink(self, node: _Node) -> None:
        if node.newer is not None:
            node.newer.older = node.older
        else:
            self._head = node.older
        if node.older is not None:
            node.older.newer = node.newer
        else:
            self._tail = node.newer
        node.newer = node.older = None
