"""Candidate videos for a dense PDQ fingerprint: multi-index hashing of 256-bit frame keys.

Each table reads one window of ``WINDOW_BITS`` consecutive key bits; ``TABLES`` windows start evenly over
the 256 bits (16 x 16 bits would be the classic disjoint chunks; 24 x 22 bits overlap). A table is CSR:
rows sorted by window value (int32, all tables in one (T, N) array) plus 2**bits + 1 offsets. A query
key's window values select rows; only those rows get the full 256-bit Hamming distance, and one stored key
within ``max_distance`` makes its video a candidate. Ranking: distinct close stored keys per video.

Why it is built this way:

- Pigeonhole guarantees are gone at PDQ distances: a copy's key 70 bits away shares a given 16-bit chunk
  with probability ~0.005. Recall comes from numbers instead (a video keeps ~1 key per second, a query
  has ~4 frames per second x 6 variants, so a copy offers hundreds of (query key, stored key, table)
  chances), which makes this bit-sampling LSH: at 70 of 256 bits the rows read per found pair grow like
  N**0.5, and reading rows (a random 32-byte gather, 35-45 ns per row all told in NumPy) is the cost of
  a lookup.
- Wider windows read far fewer rows per probe (2**-bits of the keys) and lose less than that in chances
  (~0.73**bits at 70 bits, ~0.85**bits at 40), at the price of more tables (4 bytes per key each). At 1 M
  videos (19 M keys) 22-bit windows read a quarter of the rows 20-bit ones do and, on the adversarial
  corpus (bench/dedup.py), lose no copy: the far copies (stickers, caption bars: 56-76 bits from every
  stored picture) are found through the foreground's own index (:mod:`media.dedup_index`), 4-40 bits away.
  Earlier, alone on synthetic copies up to 70 bits (bench/frame_index.py), 24 x 20-bit windows gave
  recall 0.983 at p99 47 ms and disjoint 16-bit chunks 0.978-0.992 at p99 64-109 ms. The width follows
  the index size (``TARGET_BUCKET_ROWS``), so a small index gets the narrower windows' recall at a cost it
  can afford.
- PDQ bits are biased, so some windows bucket far less evenly than others: tables are ordered by their
  measured collision rate (sum of squared bucket shares) and ``candidates(tables=k)`` probes the k most
  selective, trading recall for time. A query key lands in a bucket as often as a copy's key does (both
  in proportion to its share) but pays its size each time, so found pairs per row read fall as 1/size:
  buckets over ``MAX_BUCKET_FACTOR`` x the mean are skipped like stop words, and the query's other keys
  and tables carry the lookup.
- Rows are sorted by slot, so a video's keys are contiguous: removal is a binary search plus a tombstone
  mask (no rebuild); the next rebuild, done lazily after additions, drops the dead rows.
- Not faiss (a main dependency; ``bench/frame_index.py --faiss`` times it in the same run): at 1 M videos its
  binary indexes were no faster for the same recall. IndexBinaryMultiHash (12 disjoint 20-bit windows)
  took p99 251 ms at recall 0.914 (a hash-set insert per candidate), IndexBinaryHash tables with 1-bit
  flips 64-168 ms at 0.967-0.986 (~1 us per bucket probed), IndexBinaryIVF (4096 lists, nprobe 4) 41 ms
  at 0.986 on 2 threads and 83 ms on one (nprobe 1: 17-25 ms at 0.914), beside this path's 38-40 ms at
  0.983 on one core (12 tables: 16-17 ms at 0.950). None comes near 5 ms at recall 0.98.
- Up to ``EXHAUSTIVE_KEYS`` stored keys every query key is compared with every stored key: the answer is
  exactly brute force, and no tables (2**bits offsets each) are built for small indexes.
"""

from __future__ import annotations

import numpy as np

WORDS = 4  # uint64 words per 256-bit key, big-endian bit order (bit 0 is the top bit of word 0)
KEY_BITS = 64 * WORDS
TABLES = 24  # windows, starting every KEY_BITS / TABLES bits
# Window width is chosen at build so that the mean bucket holds about this many rows (22 bits at 19 M keys):
# that fixes the rows read per lookup, hence its time, whatever the index size, and spends the rest on
# recall (narrower windows while the index is small).
TARGET_BUCKET_ROWS = 4
MIN_WINDOW_BITS, MAX_WINDOW_BITS = 12, 24
WINDOW_BITS: int | None = None  # force a width (benchmarks)
# Up to this many stored keys (~200 videos), compare everything: exact, and a 720-key query still costs
# no more than a multi-index lookup at 1 M videos (~20 ms; 6.5 ns per key pair).
EXHAUSTIVE_KEYS = 4_096
MAX_BUCKET_FACTOR = 16  # skip buckets this many times the mean size (never ones under MIN_BUCKET_CAP)
MIN_BUCKET_CAP = 64
_EXHAUSTIVE_BLOCK = 1 << 20  # (query key, stored key) pairs per block in the exhaustive path
# Candidate rows per verification block: small enough for the temporaries to be reused rather than freshly
# mapped (page faults cost more than the arithmetic at millions of rows).
_VERIFY_BLOCK = 1 << 16


def as_keys(keys: np.ndarray) -> np.ndarray:
    """``keys`` as a C-contiguous (n, 4) uint64 array (a single key may be given as shape (4,))."""
    arr = np.asarray(keys)
    if arr.ndim == 1 and arr.size == WORDS:
        arr = arr.reshape(1, WORDS)
    if arr.ndim != 2 or arr.shape[1] != WORDS:
        raise ValueError(f"256-bit keys must have shape (n, {WORDS}), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"keys must be integers, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.uint64)


def window_values(keys: np.ndarray, start: int, bits: int) -> np.ndarray:
    """Bits ``start`` .. ``start + bits - 1`` of each key (wrapping past bit 255) as uint32."""
    word, offset = divmod(start, 64)
    top = keys[:, word]
    if offset:
        top = (top << np.uint64(offset)) | (keys[:, (word + 1) % WORDS] >> np.uint64(64 - offset))
    return (top >> np.uint64(64 - bits)).astype(np.uint32)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distance of two (n, 4) uint64 arrays, as uint16."""
    return _popcount_rows(a ^ b)


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    counts = np.bitwise_count(x)
    return counts[:, 0].astype(np.uint16) + counts[:, 1] + counts[:, 2] + counts[:, 3]


def _argsort_stable(values: np.ndarray, bits: int) -> np.ndarray:
    """Stable argsort of uint32 ``values`` < 2**bits in 16-bit passes: NumPy radix-sorts 16-bit keys in
    linear time but falls back to timsort for wider ones."""
    order = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    if bits > 16:
        order = order[np.argsort((values >> 16).astype(np.uint16)[order], kind="stable")]
    return order


class FrameIndex:
    """256-bit frame keys grouped by the caller's integer video slot; see the module docstring."""

    def __init__(self) -> None:
        self._keys = np.zeros((0, WORDS), np.uint64)  # built rows, sorted by slot
        self._owner = np.zeros(0, np.int32)
        self._alive = np.zeros(0, bool)
        self._dead = 0
        self._pending_slots: list[np.ndarray] = []
        self._pending_keys: list[np.ndarray] = []
        self._bits = 0
        self._starts = np.zeros(0, np.int64)  # window start bit of each table, most selective first
        self._rows = np.zeros((0, 0), np.int32)  # (T, N): rows sorted by window value, per table
        self._offsets = np.zeros((0, 1), np.int32)  # (T, 2**bits + 1) CSR offsets
        self._tabled = True
        self._exhaustive = True
        self._len: int | None = None

    def __len__(self) -> int:
        """Distinct slots holding at least one live key."""
        if self._len is None:
            live = self._owner[self._alive] if self._dead else self._owner
            built = live[np.r_[True, live[1:] != live[:-1]]] if live.size else live
            pending = np.unique(np.concatenate(self._pending_slots)) if self._pending_slots else built[:0]
            self._len = int(built.size + np.count_nonzero(~np.isin(pending, built, assume_unique=True)))
        return self._len

    @property
    def keys(self) -> int:
        """Live stored keys."""
        return self._owner.size - self._dead + sum(s.size for s in self._pending_slots)

    @property
    def tables(self) -> int:
        """Tables built (0 while the index is small enough to compare every key)."""
        self.build()
        return len(self._starts)

    def add(self, slot: int, keys: np.ndarray) -> None:
        """Store ``keys`` ((n, 4) uint64) under ``slot``; adding to a slot again appends to it."""
        if not 0 <= slot < 2**31:
            raise ValueError(f"slot must fit in int32 and be >= 0, got {slot}")
        keys = as_keys(keys)
        self._pending_slots.append(np.full(len(keys), slot, np.int32))
        self._pending_keys.append(keys)
        self._len = None

    def add_bulk(self, slots: np.ndarray, keys: np.ndarray) -> None:
        """Store row i of ``keys`` under ``slots[i]`` (int32 (N,), any order): one call for millions of rows."""
        slots = np.asarray(slots)
        keys = as_keys(keys)
        if slots.shape != (len(keys),) or not np.issubdtype(slots.dtype, np.integer):
            raise ValueError(f"slots must be integers of shape ({len(keys)},), got {slots.dtype} {slots.shape}")
        if slots.size and (slots.min() < 0 or slots.max() >= 2**31):
            raise ValueError("slots must fit in int32 and be >= 0")
        self._pending_slots.append(slots.astype(np.int32))
        self._pending_keys.append(keys)
        self._len = None

    def remove(self, slot: int) -> None:
        """Forget every key of ``slot`` (stored and pending); a no-op for an unknown slot."""
        lo, hi = np.searchsorted(self._owner, [slot, slot + 1])
        if hi > lo:
            self._dead += int(np.count_nonzero(self._alive[lo:hi]))
            self._alive[lo:hi] = False
        for i, s in enumerate(self._pending_slots):
            keep = s != slot
            if not keep.all():
                self._pending_slots[i], self._pending_keys[i] = s[keep], self._pending_keys[i][keep]
        self._len = None

    def build(self) -> None:
        """Fold pending keys in and rebuild the tables; done lazily by :meth:`candidates`."""
        if self._pending_slots:
            owner = np.concatenate([self._owner[self._alive] if self._dead else self._owner, *self._pending_slots])
            keys = np.concatenate([self._keys[self._alive] if self._dead else self._keys, *self._pending_keys])
            self._pending_slots, self._pending_keys = [], []
            if owner.size and np.any(owner[1:] < owner[:-1]):  # bulk loads usually come grouped by slot
                order = np.argsort(owner, kind="stable")
                owner, keys = owner[order], keys[order]
                del order
            self._owner, self._keys = owner, keys
            self._alive = np.ones(self._owner.size, bool)
            self._dead = 0
            self._tabled = False
        if not self._tabled:
            self._build_tables()

    def _build_tables(self) -> None:
        n = self._owner.size
        # Drop the old tables first: at 19 M keys they take ~1.9 GB.
        self._starts = np.zeros(0, np.int64)
        self._rows = np.zeros((0, n), np.int32)
        self._offsets = np.zeros((0, 1), np.int32)
        self._exhaustive = n <= EXHAUSTIVE_KEYS
        self._tabled = True
        if self._exhaustive:
            return
        bits = WINDOW_BITS or int(np.clip(np.round(np.log2(n / TARGET_BUCKET_ROWS)), MIN_WINDOW_BITS, MAX_WINDOW_BITS))
        size = 1 << bits
        starts = np.round(np.arange(TABLES) * KEY_BITS / TABLES).astype(np.int64)
        offsets = np.empty((TABLES, size + 1), np.int32)
        collision = np.empty(TABLES)
        for t, s in enumerate(starts):
            counts = np.bincount(window_values(self._keys, int(s), bits), minlength=size)
            offsets[t, 0] = 0
            np.cumsum(counts, out=offsets[t, 1:])
            counts = counts.astype(np.float64)
            collision[t] = float(counts @ counts) / n**2
        order = np.argsort(collision, kind="stable")
        self._bits, self._starts, self._offsets = bits, starts[order], offsets[order]
        del offsets
        self._rows = np.empty((TABLES, n), np.int32)
        for t, s in enumerate(self._starts):
            self._rows[t] = _argsort_stable(window_values(self._keys, int(s), bits), bits)

    def candidates(self, query: np.ndarray, *, max_distance: int, limit: int = 16,
                   tables: int | None = None, exact: bool = False,
                   lone_distance: int | None = None) -> list[tuple[int, int]]:
        """Slots with stored keys within ``max_distance`` bits of some query key, best first.

        Each is ``(slot, n)`` with n the number of distinct stored keys of that slot within the distance
        (ties: the slot with the closest key first); at most ``limit``. ``tables`` probes only that many of
        the most selective tables (default all), trading recall for time on large indexes. ``exact`` compares
        every query key with every stored key whatever the index size: the brute-force baseline.
        ``lone_distance``: a slot with a single close key is a candidate only if that key is this close (at
        millions of keys, one stored key 65-80 bits from one of hundreds of query keys is chance).
        """
        self.build()
        q = as_keys(query)
        if q.shape[0] > 1:  # repeated keys (still frames, symmetric mirrors) would each cost a probe
            q = np.unique(q.view(f"V{8 * WORDS}").ravel()).view(np.uint64).reshape(-1, WORDS)
        if self._owner.size == 0 or q.shape[0] == 0 or limit <= 0:
            return []
        if self._exhaustive or exact:
            rows, dist = self._exhaustive_pairs(q, max_distance)
        else:
            k = len(self._starts) if tables is None else max(0, min(tables, len(self._starts)))
            rows, dist = self._verify(q, *self._probe(q, k), max_distance)
        if self._dead and rows.size:
            live = self._alive[rows]
            rows, dist = rows[live], dist[live]
        if rows.size == 0:
            return []
        order = np.lexsort((dist, rows))  # per row, its smallest distance first
        rows, dist = rows[order], dist[order]
        first = np.r_[True, rows[1:] != rows[:-1]]
        rows, dist = rows[first], dist[first]  # distinct stored keys
        slots, inverse, counts = np.unique(self._owner[rows], return_inverse=True, return_counts=True)
        best = np.full(slots.size, np.iinfo(np.uint16).max, np.uint16)
        np.minimum.at(best, inverse, dist)
        if lone_distance is not None:
            keep = (counts > 1) | (best <= lone_distance)
            slots, counts, best = slots[keep], counts[keep], best[keep]
        top = np.lexsort((slots, best, -counts))[:limit]
        return [(int(slots[i]), int(counts[i])) for i in top]

    def _exhaustive_pairs(self, q: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, distance) of every (query key, stored key) pair within ``max_distance``."""
        n = self._owner.size
        step = max(1, _EXHAUSTIVE_BLOCK // n)
        rows_out, dist_out = [], []
        for a in range(0, q.shape[0], step):
            block = q[a:a + step]
            dist = np.zeros((block.shape[0], n), np.uint16)
            for w in range(WORDS):
                dist += np.bitwise_count(block[:, w, None] ^ self._keys[None, :, w])
            qi, rows = np.nonzero(dist <= max_distance)
            rows_out.append(rows)
            dist_out.append(dist[qi, rows])
        return np.concatenate(rows_out), np.concatenate(dist_out)

    def _probe(self, q: np.ndarray, tables: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Buckets to read, non-empty and not skipped: start in the flattened (T * N,) rows, length, query key."""
        n = self._owner.size
        values = np.stack([window_values(q, int(s), self._bits) for s in self._starts[:tables]])  # (T, Q)
        values = values.astype(np.int64)
        offsets = self._offsets[:tables]
        lo = np.take_along_axis(offsets, values, axis=1).astype(np.int64)
        lens = np.take_along_axis(offsets, values + 1, axis=1) - lo
        lens[lens > max(MIN_BUCKET_CAP, MAX_BUCKET_FACTOR * n >> self._bits)] = 0
        lo += (np.arange(tables, dtype=np.int64) * n)[:, None]
        qpos = np.broadcast_to(np.arange(q.shape[0]), values.shape)
        keep = lens.ravel() > 0
        return lo.ravel()[keep], lens.ravel()[keep], qpos.ravel()[keep]

    def _verify(self, q: np.ndarray, lo: np.ndarray, lens: np.ndarray, qpos: np.ndarray,
                max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, distance) of the rows in the given buckets within ``max_distance`` of their query key."""
        ends = np.cumsum(lens)
        cuts = np.searchsorted(ends, np.arange(_VERIFY_BLOCK, int(ends[-1]) if ends.size else 0, _VERIFY_BLOCK))
        bounds = [0, *cuts.tolist(), lens.size]
        flat = self._rows.reshape(-1)
        rows_out, dist_out = [np.zeros(0, np.int32)], [np.zeros(0, np.uint16)]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if b <= a:
                continue
            blens = lens[a:b]
            # The slices lo[i]:lo[i]+lens[i], concatenated without a Python loop.
            idx = np.repeat(lo[a:b] - (np.cumsum(blens) - blens), blens)
            idx += np.arange(idx.size)
            rows = flat.take(idx)
            found = self._keys.take(rows, axis=0)
            np.bitwise_xor(found, np.repeat(q.take(qpos[a:b], axis=0), blens, axis=0), out=found)
            dist = _popcount_rows(found)
            close = dist <= max_distance
            rows_out.append(rows[close])
            dist_out.append(dist[close])
        return np.concatenate(rows_out), np.concatenate(dist_out)
