"""The first (pHash) engine's index: which stored videos is this fingerprint a copy of? Multi-index hashing
over 16-bit hash chunks.

Each reference frame hash is split into four 16-bit chunks, and each chunk position has a table from
chunk value to the frames holding it (CSR arrays: a sorted row list plus 65 537 offsets). Two hashes
within 3 bits share at least one chunk exactly (pigeonhole), and copies, whose frames sit a few bits
apart over many frames, reliably share chunks on several of them. So candidate videos are the owners of
frames that share a chunk with any query frame; each candidate is then verified with the full,
time-consistent :func:`media.phash_fingerprint.match`. Everything is vectorised NumPy. Exact chunk equality
misses some copies whose close frames share no chunk, so small indexes (where it costs the same)
compare every frame instead; ``bench/dedup.py`` measures both regimes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from media.phash_fingerprint import MAX_FRAME_DISTANCE, Fingerprint, Match, match

CHUNKS = 4
CHUNK_BITS = 16
TABLE = 1 << CHUNK_BITS
MAX_VERIFIED = 16  # candidates verified per lookup, best first
# Below this many stored frames every frame is compared (no chunk-recall loss, same cost as MIH).
EXHAUSTIVE_FRAMES = 20_000
# pHash bits are far from uniform (the DC bit is always set), so some chunk values are very common.
# Like stop words they match almost everything and identify nothing: buckets this many times the
# mean size are skipped, and the other chunks and frames of the query carry the lookup.
MAX_BUCKET_FACTOR = 16


@dataclass(frozen=True)
class Hit:
    video_id: str
    match: Match


@dataclass
class _Tables:
    hashes: np.ndarray  # uint64 (N,)
    times: np.ndarray  # float32 (N,)
    owner: np.ndarray  # int32 (N,) index into video ids
    starts: np.ndarray  # int64 (V + 1,) frame range of each video
    rows: list[np.ndarray] = field(default_factory=list)  # per chunk: frame rows sorted by chunk value
    offsets: list[np.ndarray] = field(default_factory=list)  # per chunk: CSR offsets (TABLE + 1,)


class DedupIndex:
    def __init__(self) -> None:
        self._ids: list[str] = []
        self._sha: dict[str, str] = {}
        self._removed: set[int] = set()
        self._pending: list[tuple[int, Fingerprint]] = []
        self._built: list[tuple[int, Fingerprint]] = []
        self._tables: _Tables | None = None

    def __len__(self) -> int:
        return len(self._ids) - len(self._removed)

    @property
    def frames(self) -> int:
        return sum(len(f) for _, f in self._built) + sum(len(f) for _, f in self._pending)

    def add(self, video_id: str, fingerprint: Fingerprint) -> None:
        """Index a video's reference fingerprint (call :meth:`Fingerprint.reference` first)."""
        slot = len(self._ids)
        self._ids.append(video_id)
        if fingerprint.sha256:
            self._sha.setdefault(fingerprint.sha256, video_id)
        self._pending.append((slot, fingerprint))

    def add_arrays(self, video_ids: list[str], hashes: np.ndarray, times: np.ndarray, starts: np.ndarray) -> None:
        """Bulk load (benchmarks, snapshots): video i owns frames ``starts[i]:starts[i+1]``."""
        for i, vid in enumerate(video_ids):
            a, b = starts[i], starts[i + 1]
            self.add(vid, Fingerprint("", times[a:b], hashes[a:b]))

    def remove(self, video_id: str) -> None:
        for slot, vid in enumerate(self._ids):
            if vid == video_id:
                self._removed.add(slot)
        self._sha = {k: v for k, v in self._sha.items() if v != video_id}

    def build(self) -> None:
        """Fold pending additions into the chunk tables (done lazily by :meth:`lookup`)."""
        if not self._pending and self._tables is not None:
            return
        self._built.extend(self._pending)
        self._pending = []
        self._built.sort(key=lambda sf: sf[0])
        sizes = np.fromiter((len(f) for _, f in self._built), np.int64, len(self._built))
        slots = np.fromiter((s for s, _ in self._built), np.int32, len(self._built))
        starts = np.zeros(len(self._ids) + 1, np.int64)
        starts[slots + 1] = sizes
        starts = np.cumsum(starts)
        hashes = np.concatenate([f.hashes for _, f in self._built]) if self._built else np.zeros(0, np.uint64)
        times = np.concatenate([f.times for _, f in self._built]) if self._built else np.zeros(0, np.float32)
        owner = np.repeat(slots, sizes).astype(np.int32)
        tables = _Tables(hashes.astype(np.uint64), times.astype(np.float32), owner, starts)
        for c in range(CHUNKS):
            keys = ((hashes >> np.uint64(CHUNK_BITS * c)) & np.uint64(TABLE - 1)).astype(np.int64)
            order = np.argsort(keys, kind="stable")
            tables.rows.append(order.astype(np.int64))
            tables.offsets.append(np.searchsorted(keys[order], np.arange(TABLE + 1)))
        self._tables = tables

    def _candidate_frames(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frame rows, query positions) of every stored frame sharing a chunk with a query hash."""
        t = self._tables
        rows_out, q_out = [], []
        for c in range(CHUNKS):
            keys = ((query >> np.uint64(CHUNK_BITS * c)) & np.uint64(TABLE - 1)).astype(np.int64)
            lo, hi = t.offsets[c][keys], t.offsets[c][keys + 1]
            lens = hi - lo
            lens[lens > max(64, MAX_BUCKET_FACTOR * t.hashes.size // TABLE)] = 0
            total = int(lens.sum())
            if total == 0:
                continue
            # Concatenate the variable-length slices lo[i]:hi[i] without a Python loop.
            first = np.cumsum(lens) - lens
            idx = np.repeat(lo - first, lens) + np.arange(total)
            rows_out.append(t.rows[c][idx])
            q_out.append(np.repeat(np.arange(len(query)), lens))
        if not rows_out:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows_out), np.concatenate(q_out)

    def lookup(self, query: Fingerprint, *, exclude: str | None = None,
               max_distance: int = MAX_FRAME_DISTANCE) -> list[Hit]:
        """Stored videos ``query`` (a dense fingerprint) duplicates, closest first."""
        hits: list[Hit] = []
        exact = self._sha.get(query.sha256) if query.sha256 else None
        if exact is not None and exact != exclude:
            hits.append(Hit(exact, Match(True, True, 0.0, len(query), len(query), 0.0)))
        self.build()
        t = self._tables
        if len(query) == 0 or t is None or t.hashes.size == 0:
            return hits
        if t.hashes.size <= EXHAUSTIVE_FRAMES:
            rows = np.tile(np.arange(t.hashes.size), len(query))
            qpos = np.repeat(np.arange(len(query)), t.hashes.size)
        else:
            rows, qpos = self._candidate_frames(query.hashes)
        if rows.size == 0:
            return hits
        dist = np.bitwise_count(t.hashes[rows] ^ query.hashes[qpos])
        close = dist <= max_distance
        owners, counts = np.unique(t.owner[np.unique(rows[close])], return_counts=True)
        order = np.argsort(-counts)[:MAX_VERIFIED]
        for slot in owners[order]:
            slot = int(slot)
            vid = self._ids[slot]
            if slot in self._removed or vid in (exclude, exact):
                continue
            a, b = t.starts[slot], t.starts[slot + 1]
            m = match(query, Fingerprint("", t.times[a:b], t.hashes[a:b]), max_distance=max_distance)
            if m.duplicate:
                hits.append(Hit(vid, m))
        hits.sort(key=lambda h: (not h.match.exact, h.match.distance))
        return hits

    def save(self, path: str | os.PathLike[str]) -> None:
        self.build()
        t = self._tables
        keep = [i for i in range(len(self._ids)) if i not in self._removed]
        np.savez(path, ids=np.asarray([self._ids[i] for i in keep]), starts=t.starts, hashes=t.hashes, times=t.times,
                 keep=np.asarray(keep, np.int64), sha_keys=np.asarray(list(self._sha)),
                 sha_values=np.asarray(list(self._sha.values())))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DedupIndex:
        index = cls()
        with np.load(path) as d:
            starts, keep = d["starts"], d["keep"]
            for vid, slot in zip(d["ids"].tolist(), keep.tolist(), strict=True):
                a, b = starts[slot], starts[slot + 1]
                index.add(vid, Fingerprint("", d["times"][a:b], d["hashes"][a:b]))
            index._sha = dict(zip(d["sha_keys"].tolist(), d["sha_values"].tolist(), strict=True))
        return index
