"""Belady's MIN, the offline reference: with the whole future known, evict what is needed furthest ahead.

For equal sizes, MIN with bypass (an object may be served without being admitted) maximises the number
of hits; no online policy can beat it on object hit ratio. With variable sizes the optimum is NP-hard,
and the usual reference, used here, is **Belady-size**: on a miss, free space by evicting the cached
objects whose next request is furthest away, and admit the new object only if every object it would
displace is needed later than it is; otherwise bypass. Objects never requested again are never kept.
It is a strong reference, not a proven bound, for variable sizes; online policies can occasionally
edge past it (on byte hit ratio in particular).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from cdn_sim.cache import CacheStats, check_capacity

NEVER = np.iinfo(np.int64).max
"""``next_use`` of a request whose object is not requested again."""


def next_use(keys: np.ndarray | Sequence[int]) -> np.ndarray:
    """For each position, the position of the next request for the same key, or :data:`NEVER`."""
    keys = np.asarray(keys)
    n = len(keys)
    out = np.full(n, NEVER, dtype=np.int64)
    if n < 2:
        return out
    order = np.argsort(keys, kind="stable")  # stable: equal keys stay in time order
    same = keys[order[1:]] == keys[order[:-1]]
    out[order[:-1][same]] = order[1:][same]
    return out


def belady_replay(keys: np.ndarray | Sequence[int], sizes: np.ndarray | Sequence[int], capacity_bytes: int,
                  stats: CacheStats | None = None) -> np.ndarray:
    """Hit flags (bool array) of Belady-size over a request stream; see the module docstring.

    ``stats``, when given, is filled like an online cache's (hits, misses, bytes, evictions, rejected).
    """
    capacity = check_capacity(capacity_bytes)
    keys_arr = np.asarray(keys)
    sizes_arr = np.asarray(sizes, dtype=np.int64)
    if keys_arr.shape != sizes_arr.shape or keys_arr.ndim != 1:
        raise ValueError("keys and sizes must be 1-d and of equal length")
    if len(sizes_arr) and sizes_arr.min() < 0:
        raise ValueError("object sizes cannot be negative")
    nxt = next_use(keys_arr).tolist()
    key_list, size_list = keys_arr.tolist(), sizes_arr.tolist()
    n = len(key_list)
    hits = bytearray(n)  # cheaper to set one by one than a NumPy array
    never = int(NEVER)
    stats = stats if stats is not None else CacheStats()

    cached: dict[object, int] = {}  # key -> position of its next request
    size_of: dict[object, int] = {}
    heap: list[tuple[int, object]] = []  # (-next request, key); stale entries are skipped lazily
    used = 0
    hit_bytes = miss_bytes = evictions = rejected = 0
    push, pop = heapq.heappush, heapq.heappop
    for i, (key, size, nu) in enumerate(zip(key_list, size_list, nxt)):  # noqa: B905  # equal by construction
        if key in cached:
            hits[i] = 1
            hit_bytes += size
            if nu == never:  # never needed again: free the space now, it costs nothing
                del cached[key]
                used -= size_of.pop(key)
            else:
                cached[key] = nu
                push(heap, (-nu, key))
            continue
        miss_bytes += size
        if size > capacity:
            rejected += 1
            continue
        if nu == never:
            continue  # bypass: admitting it could only displace something useful
        if used + size > capacity:
            # Collect the furthest-needed objects until the newcomer fits; admit only if all of them
            # are needed later than the newcomer, else put them back and bypass.
            victims: list[tuple[int, object]] = []
            freed = 0
            admit = True
            while used - freed + size > capacity:
                while heap and cached.get(heap[0][1]) != -heap[0][0]:
                    pop(heap)  # stale
                top = heap[0]
                if -top[0] < nu:
                    admit = False
                    break
                pop(heap)
                victims.append(top)
                freed += size_of[top[1]]
            if not admit:
                for v in victims:
                    push(heap, v)
                continue
            for _, victim in victims:
                del cached[victim]
                used -= size_of.pop(victim)
            evictions += len(victims)
        cached[key] = nu
        size_of[key] = size
        used += size
        push(heap, (-nu, key))
        if len(heap) > 4 * len(cached) + 1024:  # keep the lazy heap from growing without bound
            heap = [(-v, k) for k, v in cached.items()]
            heapq.heapify(heap)
    hit_flags = np.frombuffer(bytes(hits), dtype=np.uint8).astype(bool)
    n_hits = int(hit_flags.sum())
    stats.hits += n_hits
    stats.misses += n - n_hits
    stats.hit_bytes += hit_bytes
    stats.miss_bytes += miss_bytes
    stats.evictions += evictions
    stats.rejected += rejected
    return hit_flags
