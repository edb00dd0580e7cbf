"""Video-frequency eviction with value-based admission: the edge tier's policy for short-video traffic.

Why another policy: at the edge, most objects are requested a handful of times, so an object's own hit
count says little about its future; yet the objects of one video move together. A view fetches the
master playlist, playlists and init segments, then segments 1, 2, ... until the viewer swipes away, in
one of a few renditions. So the expected request rate of an object is, to a good approximation,

    rate(object) = rate(its video) * share(its slot)

where the *slot* is its place in any video ("720p segment 3", "audio init"). The video's rate is its
views (requests of its master playlist), with exponential decay (``half_life`` requests of this cache),
so a video that is rising counts for more than one that faded; the slot's share, requests per view, is
learnt from every request the cache sees (how often a view reaches segment 3, how many choose 720p).
Pooling a video's views gives every one of its objects the evidence of all of them: segment 4 of the
1080p rendition may be requested once a day, but its video's rate is known well.

* **Eviction**: the cached object of lowest ``rate / size ** size_weight``. ``size_weight`` 0 keeps the
  objects that carry the most requested bytes (byte hit ratio); 1 is GDSF's per-byte value (object hit
  ratio); in between trades one for the other.
* **Admission**: a missed object is admitted only if its value exceeds that of every object it would
  displace (the online form of Belady-size's bypass). A new upload's first view is worth little, so its
  objects do not push out proven ones; its second view at this POP already counts double.

Rates use forward decay: a request at time ``t`` adds ``2 ** (t / half_life)``, so comparing scores at
any moment compares decayed rates, and scores only grow. The eviction heap may therefore hold stale
(too low) values: a popped entry is re-valued and pushed back if it grew, and the first entry whose value
is current is the true minimum. Scores are rescaled before they overflow; videos whose score has
decayed to nothing and that have nothing cached are forgotten then, which bounds the metadata.

Keys: integers are the simulator's object ids (``video * STRIDE + slot``, :mod:`cdn_sim.workload`);
strings ``<bucket>/v/<video>/<rest>`` are the live edge's keys (video ``<bucket>/v/<video>``, slot
``<rest>``, e.g. ``h264_720p/seg_00003.m4s``). Anything else is its own video with an empty slot.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from cdn_sim.cache import ByteCache, CacheStats, V, check_capacity, check_size, check_stream
from cdn_sim.workload import STRIDE

Split = Callable[[Hashable], tuple[Hashable, Hashable]]
_RESCALE_AT = 512.0  # rescale scores once the newest weight reaches 2 ** this (float64 goes to 2 ** 1023)


VIEW_SLOTS: frozenset[Hashable] = frozenset({0, "master.m3u8", ""})
"""Slots whose request starts a view (the master playlist); a video's rate counts views. A key that is
not a video's object (slot "") counts its own requests."""


def split_key(key: Hashable) -> tuple[Hashable, Hashable]:
    """(video, slot) of a simulator id or a live ``<bucket>/v/<video>/<rest>`` key; see the module docstring."""
    if isinstance(key, int):
        return divmod(key, STRIDE)
    if isinstance(key, str):
        parts = key.split("/", 3)
        if len(parts) == 4 and parts[1] == "v":
            return "/".join(parts[:3]), parts[3]
    return key, ""


class VideoFrequencyCache(ByteCache[V]):
    """See the module docstring. ``half_life`` is in requests seen by this cache."""

    def __init__(self, capacity_bytes: int, *, half_life: float = 20_000.0, size_weight: float = 0.5,
                 admission: bool = True, split: Split = split_key) -> None:
        self.capacity = check_capacity(capacity_bytes)
        if not half_life > 0:
            raise ValueError(f"half_life must be positive, got {half_life}")
        if not 0 <= size_weight <= 1:
            raise ValueError(f"size_weight must be between 0 and 1, got {size_weight}")
        self.half_life = float(half_life)
        self.size_weight = float(size_weight)
        self.admission = admission
        self.split = split
        self.used = 0
        self.stats = CacheStats()
        self.bypassed = 0  # misses not admitted: worth less than what they would displace
        self._weight = 1.0  # 2 ** (requests since the last rescale / half_life)
        self._step = 2.0 ** (1.0 / self.half_life)
        self._video: dict[Hashable, float] = {}  # video -> forward-decayed view score
        self._cached_per_video: dict[Hashable, int] = {}
        self._slot: dict[Hashable, int] = {}  # slot -> requests seen (no decay: the mix is stable)
        self._views = 0  # requests of view slots
        self._entries: dict[Hashable, list[Any]] = {}  # key -> [value, size, video, slot, size factor]
        self._heap: list[tuple[float, int, Hashable]] = []  # (value when filed, tie-break, key)
        self._seq = itertools.count()  # ties never compare keys (ints and strs may mix)

    # -- the ByteCache interface -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> Iterator[Hashable]:
        return iter(list(self._entries))

    def get(self, key: Hashable) -> V | None:
        self._record(key)
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.stats.hit_bytes += entry[1]
        return entry[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Insert or replace without the admission test (an explicit put, e.g. a push, is a decision)."""
        check_size(size)
        if size > self.capacity:
            self.stats.rejected += 1
            return False
        self.remove(key)
        video, slot = self.split(key)
        self._make_room(size, None)
        self._insert(key, value, size, video, slot)
        return True

    def hint(self, key: Hashable, views: float) -> None:
        """Count ``views`` of ``key``'s video now, as if they had been seen (a push's forecast), so pushed
        objects are valued by the demand that made them worth pushing, not evicted first as unseen."""
        if views > 0:
            video, _ = self.split(key)
            self._video[video] = self._video.get(video, 0.0) + views * self._weight

    def remove(self, key: Hashable) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._drop(entry)
        return True  # its heap entry is now stale and skipped when popped

    def access(self, key: Hashable, size: int) -> bool:
        video, slot = self._record(key)
        entry = self._entries.get(key)
        stats = self.stats
        if entry is not None:
            stats.hits += 1
            stats.hit_bytes += entry[1]
            return True
        if not stats.admit_miss(size, self.capacity):
            return False
        factor = self._size_factor(size)
        worth = self._value(video, slot, factor)
        if self._make_room(size, worth if self.admission else None):
            self._insert(key, None, size, video, slot, factor)
        else:
            self.bypassed += 1
        return False

    def replay(self, keys: Sequence[Hashable], sizes: Sequence[int]) -> list[bool]:
        check_stream(keys, sizes)
        access = self.access
        return [access(k, s) for k, s in zip(keys, sizes)]  # noqa: B905  # lengths checked above

    def value_of(self, key: Hashable) -> float | None:
        """The current value of a cached object (for tests); None when it is not cached."""
        entry = self._entries.get(key)
        return None if entry is None else self._value(entry[2], entry[3], entry[4])

    # -- internals ---------------------------------------------------------------------------------

    def _size_factor(self, size: int) -> float:
        return max(size, 1) ** -self.size_weight

    def _value(self, video: Hashable, slot: Hashable, factor: float) -> float:
        share = (self._slot.get(slot, 0) + 1) / (self._views + 1)  # requests of the slot per view
        return self._video.get(video, 0.0) * share * factor

    def _record(self, key: Hashable) -> tuple[Hashable, Hashable]:
        """Count one request: advance the clock, count its slot, and a view of its video."""
        video, slot = self.split(key)
        self._weight *= self._step
        if self._weight > 2.0 ** _RESCALE_AT:
            self._rescale()
        slots = self._slot
        slots[slot] = slots.get(slot, 0) + 1
        videos = self._video
        if slot in VIEW_SLOTS:
            self._views += 1
            videos[video] = videos.get(video, 0.0) + self._weight
        elif video not in videos:
            videos[video] = 0.0
        return video, slot

    def _insert(self, key: Hashable, value: Any, size: int, video: Hashable, slot: Hashable,
                factor: float | None = None) -> None:
        factor = self._size_factor(size) if factor is None else factor
        self._entries[key] = [value, size, video, slot, factor]
        self._cached_per_video[video] = self._cached_per_video.get(video, 0) + 1
        self.used += size
        heap = self._heap
        heapq.heappush(heap, (self._value(video, slot, factor), next(self._seq), key))
        if len(heap) > 2 * len(self._entries) + 1024:  # stale entries of evicted or re-filed objects
            self._compact()

    def _drop(self, entry: list[Any]) -> None:
        """Account for an entry already taken out of ``_entries``."""
        self.used -= entry[1]
        video = entry[2]
        left = self._cached_per_video[video] - 1
        if left:
            self._cached_per_video[video] = left
        else:
            del self._cached_per_video[video]

    def _make_room(self, size: int, worth: float | None) -> bool:
        """Evict the least valuable objects until ``size`` fits. With ``worth``, give up (evicting nothing)
        as soon as the next victim is worth at least as much as the newcomer."""
        if self.used + size <= self.capacity:
            return True
        entries = self._entries
        victims: list[tuple[float, Hashable, list[Any]]] = []
        freed = 0
        while self.used - freed + size > self.capacity:
            current, key = self._pop_min()
            entry = entries.pop(key)  # out at once, so a duplicate heap entry cannot pick it twice
            victims.append((current, key, entry))
            if worth is not None and current >= worth:
                for value, k, e in victims:  # put everything back: the newcomer is bypassed
                    entries[k] = e
                    heapq.heappush(self._heap, (value, next(self._seq), k))
                return False
            freed += entry[1]
        for _, _, entry in victims:
            self._drop(entry)
        self.stats.evictions += len(victims)
        return True

    def _pop_min(self) -> tuple[float, Hashable]:
        """The cached object of least current value, taken off the heap (still in ``_entries``)."""
        heap, entries, pop, push, seq = self._heap, self._entries, heapq.heappop, heapq.heappush, self._seq
        while True:
            stored, _, key = pop(heap)
            entry = entries.get(key)
            if entry is None:
                continue  # removed or evicted earlier: a stale entry
            current = self._value(entry[2], entry[3], entry[4])
            if current <= stored * 1.000001:
                return current, key
            push(heap, (current, next(seq), key))  # its video was viewed since: re-file it at its value

    def _compact(self) -> None:
        self._heap = [(self._value(e[2], e[3], e[4]), next(self._seq), k) for k, e in self._entries.items()]
        heapq.heapify(self._heap)

    def _rescale(self) -> None:
        """Divide every score by the current weight (order-preserving) and forget videos that faded out."""
        scale = 1.0 / self._weight
        self._weight = 1.0
        floor = 2.0 ** -64  # decayed for 64 half-lives: nothing left to remember
        cached = self._cached_per_video
        self._video = {v: s * scale for v, s in self._video.items() if s * scale > floor or v in cached}
        self._compact()  # every value changed by one factor; recomputing also drops stale entries
