"""The first dedup engine's fingerprints (pHash of upright frames sampled at fixed timestamps), kept to read
fingerprints stored before the PDQ engine (:mod:`media.fingerprint`) and as the benchmarks' baseline.

Robustness comes from three choices:
- letterbox and pillarbox bars are cropped before hashing, so a 16:9 clip re-posted as 9:16 with black
  bars hashes like the original;
- near-uniform frames (black, flat colour) are dropped: they say nothing about identity and would make
  unrelated clips look alike;
- two clips match only when enough sampled frames agree *at one time offset* (a trim shifts every frame
  by the same amount), so a few chance look-alikes between different clips never add up.
pHash itself compares DCT coefficients to their median, so brightness and contrast changes, re-encoding,
scaling and small overlays move a frame by a few bits only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from media.frames import UNIFORM_STD, file_sha256, picture_box, to_gray
from media.limits import Limits
from media.probe import probe
from media.scan import Samples, scan

CENTRE = 0.8  # hash the central 80 % of the picture: corner logos and cropped borders fall outside
SAME_SHOT_BITS = 4  # consecutive reference hashes this close are one static shot
REFERENCE_RATE = 1.0  # stored fingerprints keep one frame a second; queries keep every sample (4 fps)
MAX_FRAME_DISTANCE = 14  # copies sit at 4-12 bits, different clips around 30
MIN_SHARE = 0.5
MIN_FRAMES = 3
OFFSET_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    times: np.ndarray  # float32 seconds
    hashes: np.ndarray  # uint64 pHash per kept frame

    def __len__(self) -> int:
        return len(self.hashes)

    def reference(self, rate: float = REFERENCE_RATE) -> Fingerprint:
        """The sparse form stored in the index: one frame per 1/rate s, static runs collapsed."""
        times: list[float] = []
        hashes: list[int] = []
        last_slot = -1
        for t, h in zip(self.times.tolist(), self.hashes.tolist(), strict=True):
            slot = int(t * rate)
            if slot == last_slot:
                continue
            last_slot = slot
            if hashes and (int(h) ^ hashes[-1]).bit_count() <= SAME_SHOT_BITS:
                continue
            times.append(t)
            hashes.append(int(h))
        return Fingerprint(self.sha256, np.asarray(times, np.float32), np.asarray(hashes, np.uint64))


@dataclass(frozen=True)
class Match:
    duplicate: bool
    exact: bool
    distance: float  # median Hamming distance of the agreeing frames (0 for an exact copy)
    matched: int  # reference frames found in the query at one offset
    considered: int  # reference frames that overlap the query at that offset
    offset_s: float  # how much later the query's frames sit than the reference's


def content_box(gray: np.ndarray) -> tuple[slice, slice]:
    """The central part of the real picture: bars removed, then edges where crops and logos live."""
    rows, cols = picture_box(gray)
    r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
    dr, dc = int((r1 - r0) * (1 - CENTRE) / 2), int((c1 - c0) * (1 - CENTRE) / 2)
    return slice(r0 + dr, r1 - dr), slice(c0 + dc, c1 - dc)


def phash64(gray: np.ndarray) -> int:
    bits = imagehash.phash(Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))).hash.flatten()
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two uint64 arrays, shape (len(a), len(b))."""
    return np.bitwise_count(a[:, None] ^ b[None, :]).astype(np.int16)


def fingerprint_samples(samples: Samples, sha256: str) -> Fingerprint:
    """The dense (query) fingerprint: a hash for every sample that is not near-uniform."""
    if len(samples) == 0:
        return Fingerprint(sha256, np.zeros(0, np.float32), np.zeros(0, np.uint64))
    gray = to_gray(samples.images.astype(np.float32))
    rows, cols = content_box(gray)
    keep = [(float(t), phash64(frame)) for t, frame in zip(samples.times, gray[:, rows, cols], strict=True)
            if frame.std() >= UNIFORM_STD]
    return Fingerprint(sha256, np.asarray([t for t, _ in keep], np.float32),
                       np.asarray([h for _, h in keep], np.uint64))


def fingerprint_file(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Fingerprint:
    """Probe, decode and fingerprint a file on its own (the CLI; the pipeline reuses its scan)."""
    path = Path(path)
    info = probe(path)
    result = scan(path, info, limits or Limits(max_error_share=1.0))
    return fingerprint_samples(result.samples, file_sha256(path))


def match(query: Fingerprint, ref: Fingerprint, *, max_distance: int = MAX_FRAME_DISTANCE,
          min_share: float = MIN_SHARE, min_frames: int = MIN_FRAMES) -> Match:
    """Is the dense ``query`` a copy of (a part of) the sparse reference ``ref``, or the other way round?"""
    if query.sha256 and query.sha256 == ref.sha256:
        return Match(True, True, 0.0, len(ref), len(ref), 0.0)
    if len(query) == 0 or len(ref) == 0:
        return Match(False, False, 64.0, 0, 0, 0.0)
    d = hamming(query.hashes, ref.hashes)
    qi, rj = np.nonzero(d <= max_distance)
    if qi.size == 0:
        return Match(False, False, float(d.min()), 0, len(ref), 0.0)
    offsets = query.times[qi] - ref.times[rj]
    best_count, best_offset, best_pairs = 0, 0.0, np.zeros(0, bool)
    for offset in np.unique(np.round(offsets * 4) / 4):
        agree = np.abs(offsets - offset) <= OFFSET_TOLERANCE_S
        count = np.unique(rj[agree]).size
        if count > best_count:
            best_count, best_offset, best_pairs = count, float(offset), agree
    # Only reference frames the query could contain at this offset count against it (trims, excerpts).
    shifted = ref.times + best_offset
    overlap = (shifted >= query.times.min() - OFFSET_TOLERANCE_S) & (shifted <= query.times.max() + OFFSET_TOLERANCE_S)
    considered = max(int(overlap.sum()), best_count)
    distance = float(np.median(d[qi[best_pairs], rj[best_pairs]]))
    enough = best_count >= MIN_FRAMES or (best_count == considered and distance <= max_distance / 2)
    duplicate = enough and best_count / considered >= min_share
    return Match(duplicate, False, distance, best_count, considered, best_offset)


def compare(a: Fingerprint, b: Fingerprint) -> Match:
    """Symmetric comparison of two dense fingerprints (which one is the original is unknown)."""
    first, second = match(a, b.reference()), match(b, a.reference())
    if first.duplicate != second.duplicate:
        return first if first.duplicate else second
    return first if first.distance <= second.distance else second
