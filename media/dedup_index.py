"""Which stored videos is an upload a copy of? Candidates from a frame-hash index, then the full match.

Stage one looks up every frame of the query, in each view and orientation, among the stored frames' hashes
(their central, upright view: :class:`media.frame_index.FrameIndex`, multi-index hashing over 256-bit PDQ) and
ranks videos by how many of their frames came close. It does so twice: once for the picture, once for the
foreground (what moved), each in its own index, because a copy under a sticker or a caption bar is often
56-76 bits from every stored picture (beyond what bit sampling finds among millions in milliseconds) while its
foreground sits 4-40 bits from the original's. A third index holds the soundtracks of still scenes (the only
videos whose match the sound can decide): a still scene re-encoded hard, mirrored and captioned has neither
a picture key within reach nor any foreground left, but its sound is 10-25 % of bits from the original's.
Stage two verifies the best few of each with :func:`media.fingerprint.match`: time-consistent, mirror-aware,
decided on the foreground or the soundtrack for still scenes (the sound alone never matches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media.audio_fingerprint import AudioPrint
from media.fingerprint import WORDS, Fingerprint, Match, match_either_way
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
SOUND_KEY_FRAMES = 8  # 32-bit audio sub-fingerprints per 256-bit stage-one key (256 ms of frames)
SOUND_KEY_STEP = 8  # a stored soundtrack is keyed every 8 frames (4 keys a second); the query at every frame
SOUND_CANDIDATE_BITS = 48  # of 256: a copy's keys sit 1-30 bits from the original's (a bit error rate of
# 0.01-0.12), while speech is no random text: unrelated voices put a key or two 41-64 bits away ...
MIN_SOUND_KEYS = 3  # ... so a candidate needs this many stored keys that close (copies have 20-29 of 29)


def reference_keys(ref: Fingerprint) -> np.ndarray:
    """The stored frames' central, upright view, one a second, (n, 4)."""
    return np.ascontiguousarray(ref.hashes[::KEY_STEP, KEY_VIEW, 0, :])


def foreground_keys(ref: Fingerprint) -> np.ndarray:
    """The same frames' foreground, where it was strong enough to hash, (m, 4)."""
    keys = ref.foreground[::KEY_STEP, KEY_VIEW, 0, :]
    return np.ascontiguousarray(keys[keys.any(axis=1)])


def sound_keys(audio: AudioPrint, step: int = 1) -> np.ndarray:
    """256-bit keys of SOUND_KEY_FRAMES consecutive loud sub-fingerprints, starting every ``step`` frames,
    (m, 4): a stored soundtrack keys every SOUND_KEY_STEP frames, a query every frame, so one of the query's
    keys starts within half a frame of each stored one whatever the trim."""
    n = len(audio) - SOUND_KEY_FRAMES + 1
    if n <= 0:
        return np.zeros((0, WORDS), np.uint64)
    firsts = np.arange(0, n, step)
    loud = np.lib.stride_tricks.sliding_window_view(audio.loud, SOUND_KEY_FRAMES)[firsts].all(axis=1)
    frames = np.lib.stride_tricks.sliding_window_view(audio.hashes, SOUND_KEY_FRAMES)[firsts[loud]]
    pairs = frames.astype(np.uint64).reshape(-1, WORDS, 2)
    return np.ascontiguousarray((pairs[:, :, 0] << np.uint64(32)) | pairs[:, :, 1])


def stored_sound_keys(ref: Fingerprint) -> np.ndarray:
    """A reference's soundtrack keys, for still scenes only (elsewhere the picture decides, whatever the sound)."""
    if not ref.still or not ref.audio.audible:
        return np.zeros((0, WORDS), np.uint64)
    return sound_keys(ref.audio, SOUND_KEY_STEP)


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
        self._sounds = FrameIndex()  # soundtracks of still scenes
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
            if len(sounds := stored_sound_keys(fingerprint)):
                self._sounds.add(slot, sounds)

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
        """Build the stage-one indexes now rather than on the first lookup."""
        self._frames.build()
        self._moving.build()
        self._sounds.build()

    @property
    def keys(self) -> int:
        """Stage-one keys held, pictures, foregrounds and soundtracks."""
        return self._frames.keys + self._moving.keys + self._sounds.keys

    def candidates(self, query: Fingerprint, *, exact: bool = False) -> list[str]:
        """Videos worth verifying, best first: the picture index's, then the foreground and soundtrack indexes'
        not yet named.
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
        # Only a still query: copies of still scenes are still (the corpus: all of them), and moving queries,
        # most of them, then pay nothing for the sound.
        if query.still and self._sounds.keys and len(sound := sound_keys(query.audio)):
            seen = set(slots)
            slots += [s for s, n in self._sounds.candidates(sound, max_distance=SOUND_CANDIDATE_BITS,
                                                             limit=MAX_VERIFIED, exact=exact)
                      if n >= MIN_SOUND_KEYS and s not in seen]
        return [s for s in slots if self._prints[s] is not None]

    def remove(self, video_id: str) -> None:
        for slot, vid in enumerate(self._ids):
            if vid == video_id and self._prints[slot] is not None:
                self._prints[slot] = None
                self._frames.remove(slot)
                self._moving.remove(slot)
                self._sounds.remove(slot)
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
