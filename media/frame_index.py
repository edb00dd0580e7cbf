"""Candidate videos for a dense PDQ fingerprint: multi-index hashing of 256-bit frame keys over 16-bit chunks.

Every stored key is split into sixteen 16-bit chunks; each tabled chunk position has a CSR table from chunk
value to the rows holding it (one int32 row array per table, all tables in one (T, N) array, plus 65 537
offsets). A query key's chunk values select rows, and only those rows get the full 256-bit Hamming distance.

Why it is built this way:

- Pigeonhole guarantees are gone at PDQ distances (copies sit 20-75 bits apart, so a pair at 70 bits shares
  a given 16-bit chunk with probability ~0.005). Recall comes from numbers instead: a video has ~1 stored
  key per second, a query ~4 frames per second times 6 variants, so a copy offers dozens of (query key,
  stored key, chunk) chances, and one verified frame is enough to make its video a candidate (unrelated
  keys sit ~120 bits apart; none comes near a threshold of 70-80). This is plain bit-sampling LSH, whose
  cost per found pair grows like N**0.5 at these distances: work, not memory, is what runs out, so all
  sixteen chunks are tabled (int32 rows: 4 bytes per key per table, ~1.2 GB at 19 M keys) and
  ``candidates(chunks=k)`` probes only the k most selective ones when latency matters more than recall.
- Longer chunks (20-32 bits) would cut the rows per probe but lose far more recall per table than they
  save; shorter ones flood the verifier. 16 bits keeps ~290 rows per bucket at 19 M keys.
- PDQ bits are biased, so some chunk positions bucket far less evenly than others: tables are ordered by
  their measured collision rate (sum of squared bucket shares), and buckets over ``MAX_BUCKET_FACTOR`` x the
  mean are skipped like stop words: they match everything and identify nothing, and the query's other
  keys and chunks still carry the lookup.
- Rows are sorted by slot, so a video's keys are contiguous: removal is a binary search plus a tombstone
  mask (no rebuild), and the next rebuild, done lazily when keys were added, drops the dead rows.
- Below ``EXHAUSTIVE_KEYS`` stored keys every query key is compared with every stored key: the answer is
  exactly brute force, at a cost no higher than building and probing tables.
"""

from __future__ import annotations

import numpy as np

WORDS = 4  # uint64 words per 256-bit key, big-endian bit order (bit 0 is the top bit of word 0)
CHUNK_BITS = 16
CHUNKS = WORDS * 64 // CHUNK_BITS
TABLE = 1 << CHUNK_BITS
TABLED_CHUNKS = 16  # chunk positions given a table, the most selective first
# At or below this many stored keys, compare everything (a 700-key query then costs a few tens of ms at most).
EXHAUSTIVE_KEYS = 8_192
MAX_BUCKET_FACTOR = 16  # skip buckets this many times the mean size (never ones under MIN_BUCKET_CAP)
MIN_BUCKET_CAP = 64
_EXHAUSTIVE_BLOCK = 1 << 20  # (query key, stored key) pairs per block in the exhaustive path


def as_keys(keys: np.ndarray) -> np.ndarray:
    """``keys`` as a C-contiguous (n, 4) uint64 array (a single key may be given as shape (4,))."""
    arr = np.asarray(keys)
    if arr.ndim == 1 and arr.size == WORDS:
        arr = arr.reshape(1, WORDS)
    if arr.ndim != 2 or arr.shape[1] != WORDS:
        raise ValueError(f"256-bit keys must have shape (n, {WORDS}), got {arr.shape}")
    if arr.dtype != np.uint64:
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"keys must be integers, got {arr.dtype}")
        arr = arr.astype(np.uint64)
    return np.ascontiguousarray(arr)


def chunk_values(keys: np.ndarray, chunk: int) -> np.ndarray:
    """The 16-bit value of chunk ``chunk`` (bits 16*chunk .. 16*chunk+15) of each key, as uint16."""
    word, part = divmod(chunk, 64 // CHUNK_BITS)
    shift = np.uint64(64 - CHUNK_BITS * (part + 1))
    return ((keys[:, word] >> shift) & np.uint64(TABLE - 1)).astype(np.uint16)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distance of two (n, 4) uint64 arrays, as uint16."""
    return _popcount_rows(a ^ b)


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    counts = np.bitwise_count(x)
    return counts[:, 0].astype(np.uint16) + counts[:, 1] + counts[:, 2] + counts[:, 3]


class FrameIndex:
    """256-bit frame keys grouped by the caller's integer video slot; see the module docstring."""

    def __init__(self) -> None:
        self._keys = np.zeros((0, WORDS), np.uint64)  # built rows, sorted by slot
        self._owner = np.zeros(0, np.int32)
        self._alive = np.zeros(0, bool)
        self._dead = 0
        self._pending_slots: list[np.ndarray] = []
        self._pending_keys: list[np.ndarray] = []
        self._chunks = np.zeros(0, np.int64)  # tabled chunk positions, most selective first
        self._rows = np.zeros((0, 0), np.int32)  # (T, N): rows sorted by chunk value, per table
        self._offsets = np.zeros((0, TABLE + 1), np.int64)  # (T, TABLE + 1) CSR offsets
        self._tabled = False
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
        if slots.shape != (len(keys),):
            raise ValueError(f"slots must have shape ({len(keys)},), got {slots.shape}")
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
        """Fold pending keys in and (re)build the chunk tables; done lazily by :meth:`candidates`."""
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
        # Drop the old tables first: at 19 M keys they are ~1.2 GB.
        self._chunks = np.zeros(0, np.int64)
        self._rows = np.zeros((0, n), np.int32)
        self._offsets = np.zeros((0, TABLE + 1), np.int64)
        if n <= EXHAUSTIVE_KEYS:
            self._tabled = True
            return
        values, collision = [], np.zeros(CHUNKS)
        for c in range(CHUNKS):
            v = chunk_values(self._keys, c)
            counts = np.bincount(v, minlength=TABLE).astype(np.float64)
            collision[c] = float(counts @ counts) / n**2
            values.append(v)
        self._chunks = np.argsort(collision, kind="stable")[:TABLED_CHUNKS]
        self._rows = np.empty((len(self._chunks), n), np.int32)
        self._offsets = np.empty((len(self._chunks), TABLE + 1), np.int64)
        for t, c in enumerate(self._chunks):
            v = values[c]
            self._rows[t] = np.argsort(v, kind="stable")  # radix sort for uint16
            self._offsets[t, 0] = 0
            np.cumsum(np.bincount(v, minlength=TABLE), out=self._offsets[t, 1:])
        self._tabled = True

    def candidates(self, query: np.ndarray, *, max_distance: int, limit: int = 16,
                   chunks: int | None = None) -> list[tuple[int, int]]:
        """Slots with stored keys within ``max_distance`` bits of some query key, best first.

        Each is ``(slot, n)`` with n the number of distinct stored keys of that slot within the distance
        (ties: the closer best key first); at most ``limit``. ``chunks`` probes only that many of the most
        selective tables (default all), trading recall for time on large indexes.
        """
        self.build()
        q = as_keys(query)
        if q.shape[0] > 1:  # repeated keys (still frames, symmetric mirrors) cost a probe each otherwise
            q = np.unique(q.view(f"V{8 * WORDS}").ravel()).view(np.uint64).reshape(-1, WORDS)
        n = self._owner.size
        if n == 0 or q.shape[0] == 0 or limit <= 0:
            return []
        if n <= EXHAUSTIVE_KEYS:
            rows, dist = self._exhaustive(q, max_distance)
        else:
            rows, qpos = self._probe(q, len(self._chunks) if chunks is None else max(0, min(chunks, len(self._chunks))))
            if rows.size == 0:
                return []
            found = self._keys.take(rows, axis=0)
            dist = _popcount_rows(np.bitwise_xor(found, q.take(qpos, axis=0), out=found))
            close = dist <= max_distance
            rows, dist = rows[close], dist[close]
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
        top = np.lexsort((slots, best, -counts))[:limit]
        return [(int(slots[i]), int(counts[i])) for i in top]

    def _exhaustive(self, q: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
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
            rows_out.append(rows.astype(np.int64))
            dist_out.append(dist[qi, rows])
        return np.concatenate(rows_out), np.concatenate(dist_out)

    def _probe(self, q: np.ndarray, tables: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, query position) of every stored key sharing a probed chunk with a query key."""
        n = self._owner.size
        if tables == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        values = np.stack([chunk_values(q, int(c)) for c in self._chunks[:tables]]).astype(np.int64)  # (T, Q)
        lo = np.take_along_axis(self._offsets[:tables], values, axis=1)
        lens = np.take_along_axis(self._offsets[:tables], values + 1, axis=1) - lo
        lens[lens > max(MIN_BUCKET_CAP, MAX_BUCKET_FACTOR * n // TABLE)] = 0
        lo += (np.arange(tables, dtype=np.int64) * n)[:, None]  # into the flattened (T * N,) rows
        lo, lens = lo.ravel(), lens.ravel()
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        # Concatenate the slices lo[i]:lo[i]+lens[i] without a Python loop.
        start = np.repeat(lo - (np.cumsum(lens) - lens), lens)
        start += np.arange(total)
        rows = self._rows.reshape(-1).take(start)
        qpos = np.repeat(np.tile(np.arange(q.shape[0]), tables), lens)
        return rows, qpos
