"""Which stored videos is an upload a copy of? Candidates from a frame-hash index, then the full match.

Stage one looks up every frame of the query, in each view and orientation, among the stored frames' hashes
(their central, upright view: :class:`media.frame_index.FrameIndex`, multi-index hashing over 256-bit PDQ) and
ranks videos by how many of their frames came close. It does so twice: once for the picture, once for the
foreground (what moved), each in its own index, because a copy under a sticker or a caption bar is often
56-76 bits from every stored picture (beyond what bit sampling finds among millions in milliseconds) while its
foreground sits 4-40 bits from the original's. Stage two verifies the best few of each with
:func:`media.fingerprint.match`: time-consistent, mirror-aware, and decided on the foreground for still scenes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media.fingerprint import Fingerprint, Match, match_either_way
from media.frame_index import FrameIndex

CANDIDATE_BITS = 80  # stage one: a stored frame this close to any query key makes its video a candidate
LONE_PICTURE_BITS = 64  # a video with one close stored picture is a candidate only this close: at 1 M videos
# chance puts a stored key 65-80 bits from one of a query's hundreds of keys in ~15 videos a lookup, while a copy
# whose picture is that far (a caption bar, a sticker) is carried by its foreground
MAX_VERIFIED = 16  # candidates verified per lookup and index (pictures, foregrounds), best first


@dataclass(frozen=True)
class Hit:
    video_id: str
    match: Match


def query_keys(query: Fingerprint) -> np.ndarray:
    """Every view and orientation of every query frame, (n * views * orientations, 4)."""
    return query.hashes.reshape(-1, query.hashes.shape[-1])


KEY_VIEW = 1  # the central 90 %: a copy cropped by a tenth (whole view), an uncropped one (same view) and,
# the other way round, the original of a stored crop (its 80 % view) all come close to it


KEY_STEP = 2  # every other reference frame (one a second) is keyed: a copy offers dozens of frames anyway
_LAZY = object()  # a slot whose fingerprint comes from the loader when it is a candidate


def reference_keys(ref: Fingerprint) -> np.ndarray:
    """The stored frames' central, upright view, one a second, (n, 4)."""
    return np.ascontiguousarray(ref.hashes[::KEY_STEP, KEY_VIEW, 0, :])


def foreground_keys(ref: Fingerprint) -> np.ndarray:
    """The same frames' foreground, where it was strong enough to hash, (m, 4)."""
    keys = ref.foreground[::KEY_STEP, KEY_VIEW, 0, :]
    return np.ascontiguousarray(keys[keys.any(axis=1)])


def query_foreground_keys(query: Fingerprint) -> np.ndarray:
    """Every view and orientation of the query's foreground hashes that exist, (m, 4)."""
    keys = query.foreground.reshape(-1, query.foreground.shape[-1])
    return keys[keys.any(axis=1)]


class DedupIndex:
    """``load`` fetches the fingerprint of a video added by :meth:`add_keys` once it is a candidate: at a
    million videos only the keys fit in memory, the fingerprints stay in the catalog."""

    def __init__(self, load: Callable[[str], Fingerprint | None] | None = None) -> None:
        self._ids: list[str] = []
        self._prints: list[object] = []  # Fingerprint, _LAZY, or None once removed
        self._sha: dict[str, str] = {}
        self._frames = FrameIndex()  # pictures
        self._moving = FrameIndex()  # foregrounds
        self._load = load

    def __len__(self) -> int:
        return sum(p is not None for p in self._prints)

    def add(self, video_id: str, fingerprint: Fingerprint) -> None:
        """Index a video's reference fingerprint (:meth:`Fingerprint.reference`)."""
        slot = len(self._ids)
        self._ids.append(video_id)
        self._prints.append(fingerprint)
        if fingerprint.sha256:
            self._sha.setdefault(fingerprint.sha256, video_id)
        if len(fingerprint):
            self._frames.add(slot, reference_keys(fingerprint))
            if len(moving := foreground_keys(fingerprint)):
                self._moving.add(slot, moving)

    def add_keys(self, video_ids: Sequence[str], keys: np.ndarray, starts: np.ndarray,
                 moving: np.ndarray | None = None, moving_starts: np.ndarray | None = None) -> None:
        """Bulk: video i's stage-one keys are ``keys[starts[i]:starts[i+1]]`` (:func:`reference_keys`) and
        ``moving[moving_starts[i]:moving_starts[i+1]]`` (:func:`foreground_keys`); its fingerprint is loaded
        when it is a candidate."""
        if self._load is None:
            raise ValueError("add_keys needs an index made with a fingerprint loader")
        if (moving is None) != (moving_starts is None):
            raise ValueError("give both moving and moving_starts, or neither")
        first = len(self._ids)
        self._ids.extend(video_ids)
        self._prints.extend([_LAZY] * len(video_ids))
        slots = np.arange(first, first + len(video_ids), dtype=np.int32)
        self._frames.add_bulk(np.repeat(slots, np.diff(starts)), keys)
        if moving is not None and moving_starts is not None:
            self._moving.add_bulk(np.repeat(slots, np.diff(moving_starts)), moving)

    def build(self) -> None:
        """Build both stage-one indexes now rather than on the first lookup."""
        self._frames.build()
        self._moving.build()

    @property
    def keys(self) -> int:
        """Stage-one keys held, pictures and foregrounds."""
        return self._frames.keys + self._moving.keys

    def candidates(self, query: Fingerprint, *, exact: bool = False) -> list[str]:
        """Videos worth verifying, best first: the picture index's, then the foreground index's not yet named.
        ``exact`` scans every stored key (the brute-force baseline of benchmarks)."""
        return [self._ids[s] for s in self._candidate_slots(query, exact)]

    def _candidate_slots(self, query: Fingerprint, exact: bool) -> list[int]:
        slots = [s for s, _ in self._frames.candidates(query_keys(query), max_distance=CANDIDATE_BITS,
                                                        limit=MAX_VERIFIED, exact=exact,
                                                        lone_distance=LONE_PICTURE_BITS)]
        moving = query_foreground_keys(query)
        if len(moving) and self._moving.keys:
            seen = set(slots)
            slots += [s for s, _ in self._moving.candidates(moving, max_distance=CANDIDATE_BITS,
                                                             limit=MAX_VERIFIED, exact=exact) if s not in seen]
        return [s for s in slots if self._prints[s] is not None]

    def remove(self, video_id: str) -> None:
        for slot, vid in enumerate(self._ids):
            if vid == video_id and self._prints[slot] is not None:
                self._prints[slot] = None
                self._frames.remove(slot)
                self._moving.remove(slot)
        self._sha = {k: v for k, v in self._sha.items() if v != video_id}

    def lookup(self, query: Fingerprint, *, exclude: str | None = None, exact: bool = False) -> list[Hit]:
        """Stored videos ``query`` (a dense fingerprint) duplicates, exact copies first, then closest.
        ``exact``: candidates by brute force (a benchmark's baseline), not the multi-index tables."""
        hits: list[Hit] = []
        same_bytes = self._sha.get(query.sha256) if query.sha256 else None
        if same_bytes is not None and same_bytes != exclude:
            hits.append(Hit(same_bytes, Match(True, True, 0.0, len(query), len(query), 0.0)))
        if len(query) == 0 or len(self._frames) == 0:
            return hits
        for slot in self._candidate_slots(query, exact):
            ref, vid = self._prints[slot], self._ids[slot]
            if ref is _LAZY and self._load is not None:
                ref = self._load(vid)
            if not isinstance(ref, Fingerprint) or vid in (exclude, same_bytes):
                continue
            m = match_either_way(query, ref)
            if m.duplicate:
                hits.append(Hit(vid, m))
        hits.sort(key=lambda h: (not h.match.exact, h.match.distance))
        return hits
