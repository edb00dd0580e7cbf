"""Which stored videos is an upload a copy of? Candidates from a frame-hash index, then the full match.

Stage one looks up every frame of the query, in each view and orientation, among the stored frames' hashes
(their central, upright view: :class:`media.frame_index.FrameIndex`, multi-index hashing over 256-bit PDQ) and
ranks videos by how many of their frames came close. Stage two verifies the best few with
:func:`media.fingerprint.match`: time-consistent, mirror-aware, and decided on the foreground for still
scenes. The first stage is deliberately loose (``CANDIDATE_BITS`` above the match's own threshold), because
a copy under a sticker is matched on its foreground, while its picture may sit 60-76 bits away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media.fingerprint import Fingerprint, Match, match
from media.frame_index import FrameIndex

CANDIDATE_BITS = 80  # stage one: a stored frame this close to any query key makes its video a candidate
MAX_VERIFIED = 16  # candidates verified per lookup, best first


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


class DedupIndex:
    """``load`` fetches the fingerprint of a video added by :meth:`add_keys` once it is a candidate: at a
    million videos only the keys fit in memory, the fingerprints stay in the catalog."""

    def __init__(self, load: Callable[[str], Fingerprint | None] | None = None) -> None:
        self._ids: list[str] = []
        self._prints: list[object] = []  # Fingerprint, _LAZY, or None once removed
        self._sha: dict[str, str] = {}
        self._frames = FrameIndex()
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

    def add_keys(self, video_ids: Sequence[str], keys: np.ndarray, starts: np.ndarray) -> None:
        """Bulk: video i's stage-one keys are ``keys[starts[i]:starts[i+1]]`` (:func:`reference_keys`); its
        fingerprint is loaded when it is a candidate."""
        if self._load is None:
            raise ValueError("add_keys needs an index made with a fingerprint loader")
        first = len(self._ids)
        self._ids.extend(video_ids)
        self._prints.extend([_LAZY] * len(video_ids))
        slots = np.repeat(np.arange(first, first + len(video_ids), dtype=np.int32), np.diff(starts))
        self._frames.add_bulk(slots, keys)

    def remove(self, video_id: str) -> None:
        for slot, vid in enumerate(self._ids):
            if vid == video_id and self._prints[slot] is not None:
                self._prints[slot] = None
                self._frames.remove(slot)
        self._sha = {k: v for k, v in self._sha.items() if v != video_id}

    def lookup(self, query: Fingerprint, *, exclude: str | None = None) -> list[Hit]:
        """Stored videos ``query`` (a dense fingerprint) duplicates, exact copies first, then closest."""
        hits: list[Hit] = []
        exact = self._sha.get(query.sha256) if query.sha256 else None
        if exact is not None and exact != exclude:
            hits.append(Hit(exact, Match(True, True, 0.0, len(query), len(query), 0.0)))
        if len(query) == 0 or len(self._frames) == 0:
            return hits
        for slot, _ in self._frames.candidates(query_keys(query), max_distance=CANDIDATE_BITS, limit=MAX_VERIFIED):
            ref, vid = self._prints[slot], self._ids[slot]
            if ref is _LAZY and self._load is not None:
                ref = self._load(vid)
            if not isinstance(ref, Fingerprint) or vid in (exclude, exact):
                continue
            m = match(query, ref)
            if not m.duplicate and len(ref):
                # The other way round too (the stored video may be the edited one): what compare() does.
                back = match(ref, query.reference())
                m = back if back.duplicate else m
            if m.duplicate:
                hits.append(Hit(vid, m))
        hits.sort(key=lambda h: (not h.match.exact, h.match.distance))
        return hits
