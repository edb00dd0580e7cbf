"""Perceptual video fingerprints for dedup: PDQ hashes of sampled frames, with a foreground stage for still scenes.

Each sampled frame (the scan's samples, 4 per second) is hashed with PDQ (256 bits, ``pdqhash``):
- after letterbox and pillarbox bars are cropped, so a 16:9 clip re-posted as 9:16 hashes like the original;
- at three centre crops (``VIEWS``: the whole picture, its central 90 % and 80 %), so a re-post cropped by up
  to a tenth on each side lines up with one of the original's views;
- as is and mirrored, from one pass (PDQ's dihedral hashes), so a left-right flip is caught at no extra decode.
Frames that are near-uniform, or whose detail sits in a small part of the picture (a caption or a sticker on a
flat colour), are dropped: they carry no identity, and an overlay on nothing would otherwise be all there is.

Two clips match when enough frames agree *at one time offset and in one orientation* (a trim shifts every
frame by the same amount), so chance look-alikes never add up. A still scene (a fixed camera on a street, or
a tree) looks the same at every moment: there the picture proves little, because two takes from one camera
share it. Such pairs match on the picture only when it agrees to the noise, and better in step than out of
step; otherwise on the foreground, the frame minus the median of the frames around it (about a second either
side, so a trim or a moving watermark changes little), hashed the same way: copies share what moved, other
takes do not. The foreground also carries copies of moving clips whose picture an opaque sticker moved too
far, since a static overlay is not foreground. A clip with no foreground at all (a photo with music) is then
only an exact copy by its bytes, or the same footage to the noise.

The soundtrack (:mod:`media.audio_fingerprint`) settles what the picture of a still scene leaves open, and
nothing else: a still scene whose picture lines up but is not near enough to be the same footage is a copy
when the soundtrack matches and the picture lines up at the soundtrack's offset (re-posts keep the sound;
another take from the same camera has other sound); a near picture is not enough when both clips have clearly
different sound. Audio never makes a match on its own: short-video apps let thousands of clips share one
sound. Without sound on either side the picture decides as if there were none.

The stored (reference) form keeps two frames a second, upright only; the query keeps every sample in both
orientations. ``Match.explain`` says why in words a moderator can check.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

from media import audio_fingerprint
from media.audio_fingerprint import AudioMatch, AudioPrint
from media.frames import UNIFORM_STD, centre_crop, file_sha256, picture_box, to_gray
from media.limits import Limits
from media.probe import probe
from media.scan import Samples, scan

VIEWS = (1.0, 0.9, 0.8)  # centre crops hashed per frame
WORDS = 4  # a 256-bit PDQ hash as four uint64
TEXTURE_GRID = 6  # detail is measured on a 6 x 6 grid of cells ...
TEXTURE_LEVEL = 1.5  # ... as the mean absolute high-pass response of a cell (grey levels)
MIN_TEXTURE_SPREAD = 0.4  # a frame needs detail in this share of its cells
FOREGROUND_WINDOW = 4  # samples either side whose median is a frame's background (4 fps: one second)
FOREGROUND_GAIN = 2.0  # the foreground is faint; amplified around mid-grey before hashing
MIN_FOREGROUND_QUALITY = 10  # PDQ quality below which a foreground hash is noise (a street's people score 20-60)
FRAME_BITS = 64  # two frames agree at this Hamming distance (of 256); copies sit at 20-60, other clips ~128
FOREGROUND_BITS = 72
NEAR_BITS = 10  # a still scene's picture this close is the same footage, if closer in time than out of it ...
SPECIFIC_BITS = 3  # ... by this much (two takes of one scene are as close at every offset)
MIN_FRAMES = 3
MIN_SHARE = 0.5  # of the reference frames the query overlaps
MIN_FOREGROUND_SHARE = 0.4
MIN_OVERLAP = 0.5  # two clips must overlap over this share of the shorter one's span
STILL_SHARE = 0.3  # a clip is still when this share of its frame pairs 2+ s apart agree ...
STILL_VIEW = 2  # ... on the central view, away from corner watermarks ...
STILL_CHANGE = 0.3  # ... or when its frames differ from their median by under this share of their contrast
OFFSET_STEP_S = 0.25
OFFSET_TOLERANCE_S = 0.25
REFERENCE_RATE = 2.0  # stored fingerprints keep two frames a second (still scenes need the foreground's detail)
_MAGIC = b"RFP3"  # RFP2 + the soundtrack's print after the pictures
_MAGIC_V2 = b"RFP2"  # stored before the soundtrack was fingerprinted: still read, with no sound
SOUND_OFFSET_TOLERANCE_S = 0.375  # the picture must line up this close to where the soundtrack does
_DISTANCE_BLOCK = 1 << 21  # (query row, reference row) pairs per block in distances()
_ALIGN_BLOCK = 1 << 22  # (offset, frame pair) cells per block in _align()


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    times: np.ndarray  # float32 (n,) seconds
    hashes: np.ndarray  # uint64 (n, views, orientations, 4): PDQ per view, as is [and mirrored]
    foreground: np.ndarray  # uint64, same shape: PDQ of the frame minus its background; all zero if too faint
    still: bool  # the picture barely changes over time: matches are decided on the foreground
    audio: AudioPrint = field(default_factory=AudioPrint.empty)  # the soundtrack; empty when silent or absent

    def __len__(self) -> int:
        return len(self.times)

    def reference(self, rate: float = REFERENCE_RATE) -> Fingerprint:
        """The sparse form stored in the catalog: one frame per 1/rate s, upright only."""
        keep, last = [], -1
        for i, t in enumerate(self.times.tolist()):
            if int(t * rate) != last:
                last = int(t * rate)
                keep.append(i)
        idx = np.asarray(keep, np.int64)
        return replace(self, times=self.times[idx], hashes=self.hashes[idx, :, :1],
                       foreground=self.foreground[idx, :, :1])

    def to_bytes(self) -> bytes:
        """A self-describing binary form for the catalog (little-endian arrays after a small header, then the
        soundtrack's print): one column, so adding the sound needed no migration."""
        n, views, orients, _ = self.hashes.shape
        sha = self.sha256.encode()
        header = _MAGIC + struct.pack("<IBBB?B", n, views, orients, WORDS, self.still, len(sha)) + sha
        return (header + self.times.astype("<f4").tobytes() + self.hashes.astype("<u8").tobytes()
                + self.foreground.astype("<u8").tobytes() + self.audio.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Reads this version and the one before the soundtrack (RFP2: no sound, as if silent)."""
        if data[:4] not in (_MAGIC, _MAGIC_V2):
            raise ValueError("not a PDQ video fingerprint")
        n, views, orients, words, still, sha_len = struct.unpack_from("<IBBB?B", data, 4)
        at = 4 + struct.calcsize("<IBBB?B")
        sha = data[at:at + sha_len].decode()
        at += sha_len
        shape = (n, views, orients, words)
        size = n * views * orients * words * 8
        end = at + 4 * n + 2 * size
        if len(data) < end or (data[:4] == _MAGIC_V2 and len(data) != end):
            raise ValueError("truncated video fingerprint")
        times = np.frombuffer(data, "<f4", n, at).astype(np.float32)
        hashes = np.frombuffer(data, "<u8", size // 8, at + 4 * n).reshape(shape).astype(np.uint64)
        fg = np.frombuffer(data, "<u8", size // 8, at + 4 * n + size).reshape(shape).astype(np.uint64)
        audio = AudioPrint.from_bytes(data[end:]) if data[:4] == _MAGIC else AudioPrint.empty()
        return cls(sha, times, hashes, fg, bool(still), audio)


@dataclass(frozen=True)
class Match:
    duplicate: bool
    exact: bool
    distance: float  # median Hamming distance (of 256 bits) of the agreeing frames; 0 for an exact copy
    matched: int  # reference frames found in the query at one offset
    considered: int  # reference frames that overlap the query at that offset
    offset_s: float  # how much later the query's frames sit than the reference's
    mirrored: bool = False
    foreground: bool = False  # decided on what moves in the picture, not on the picture
    soundtrack: AudioMatch | None = None  # the soundtrack's agreement, where it helped decide

    def explain(self) -> str:
        if self.exact:
            return "the same file (identical bytes)"
        how = [f"matched {self.matched} of {self.considered} sampled frames at offset {self.offset_s:+.2f} s",
               f"median distance {self.distance:.0f} of 256 bits"]
        if self.mirrored:
            how.append("mirrored")
        if self.foreground:
            how.append("on the moving content")
        text = ", ".join(how)
        if self.soundtrack is not None:
            text += (f", and the soundtrack matches at offset {self.soundtrack.offset_s:+.2f} s (bit error rate "
                     f"{self.soundtrack.ber:.2f})")
        return text


@cache
def _mirror_index() -> int:
    """Which of PDQ's eight dihedral hashes is the left-right flip (the binding does not name them)."""
    import pdqhash

    probe_image = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    mirrored = pdqhash.compute(np.ascontiguousarray(probe_image[:, ::-1]))[0]
    return int(np.argmin([np.count_nonzero(h != mirrored) for h in pdqhash.compute_dihedral(probe_image)[0]]))


def _pack(bits: np.ndarray) -> np.ndarray:
    """(..., 256) bits -> (..., 4) uint64."""
    return np.packbits(bits.astype(bool), axis=-1).view(">u8").astype(np.uint64)


def _hash_views(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """(views, 2, 4) PDQ of each centre crop as is and mirrored, and the whole view's quality (0-100)."""
    import pdqhash

    out, quality = [], 0.0
    mirror = _mirror_index()
    for i, scale in enumerate(VIEWS):
        crop = np.clip(centre_crop(gray, scale), 0, 255).astype(np.uint8)
        hashes, q = pdqhash.compute_dihedral(np.ascontiguousarray(np.repeat(crop[..., None], 3, axis=2)))
        out.append(_pack(np.stack([hashes[0], hashes[mirror]])))
        if i == 0:
            quality = float(q)
    return np.stack(out), quality


def texture_spread(gray: np.ndarray) -> np.ndarray:
    """Per (n, h, w) frame, the share of grid cells with detail (high-pass energy), 0-1."""
    import cv2

    n, h, w = gray.shape
    detail = np.abs(gray - np.stack([cv2.GaussianBlur(f, (0, 0), 2) for f in gray]))
    g = TEXTURE_GRID
    cells = np.stack([detail[:, i * h // g:(i + 1) * h // g, j * w // g:(j + 1) * w // g].reshape(n, -1).mean(axis=1)
                      for i in range(g) for j in range(g)], axis=1)
    return (cells > TEXTURE_LEVEL).mean(axis=1)


def _is_still(times: np.ndarray, hashes: np.ndarray, gray: np.ndarray) -> bool:
    """A fixed camera or a still image: the picture barely changes over the clip. Judged twice, because a
    moving watermark changes the hashes of a still scene, and a crop or caption their distances."""
    change = np.abs(gray - np.median(gray, axis=0)).mean() / (gray.std(axis=(1, 2)).mean() + 1e-6)
    if change < STILL_CHANGE:
        return True
    h = hashes[:, STILL_VIEW, 0]
    apart = np.abs(times[:, None] - times[None, :]) >= 2.0
    if not apart.any():
        return True  # too short to tell: treat as still, the stricter test
    d = np.bitwise_count(h[:, None] ^ h[None, :]).sum(axis=-1)
    return float((d[apart] <= FRAME_BITS).mean()) > STILL_SHARE


def _empty(sha256: str, orientations: int = 2) -> Fingerprint:
    shape = (0, len(VIEWS), orientations, WORDS)
    return Fingerprint(sha256, np.zeros(0, np.float32), np.zeros(shape, np.uint64), np.zeros(shape, np.uint64), True)


def fingerprint_samples(samples: Samples, sha256: str, audio: AudioPrint | None = None) -> Fingerprint:
    """The dense (query) fingerprint of the scan's samples, with the soundtrack's print ``audio`` (see
    :func:`media.audio_fingerprint.fingerprint_file`), if any."""
    return replace(_picture_print(samples, sha256), audio=audio if audio is not None else AudioPrint.empty())


def _picture_print(samples: Samples, sha256: str) -> Fingerprint:
    if len(samples) == 0:
        return _empty(sha256)
    gray = to_gray(samples.images.astype(np.float32))
    rows, cols = picture_box(gray)
    gray = gray[:, rows, cols]
    keep = gray.reshape(len(gray), -1).std(axis=1) >= UNIFORM_STD
    gray, times = gray[keep], samples.times[keep].astype(np.float32)
    if len(gray) == 0:
        return _empty(sha256)
    textured = texture_spread(gray) >= MIN_TEXTURE_SPREAD
    hashes, foreground = [], []
    w = FOREGROUND_WINDOW
    for i in np.flatnonzero(textured):
        h, _ = _hash_views(gray[i])
        background = np.median(gray[max(0, i - w):i + w + 1], axis=0)
        fg, quality = _hash_views((gray[i] - background) * FOREGROUND_GAIN + 128.0)
        hashes.append(h)
        foreground.append(fg if quality >= MIN_FOREGROUND_QUALITY else np.zeros_like(fg))
    if not hashes:
        return _empty(sha256)
    stacked = np.stack(hashes)
    return Fingerprint(sha256, times[textured], stacked, np.stack(foreground),
                       _is_still(times[textured], stacked, gray))


def fingerprint_file(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Fingerprint:
    """Probe, decode and fingerprint a file on its own (the CLI; the pipeline reuses its scan)."""
    path = Path(path)
    info = probe(path)
    result = scan(path, info, limits or Limits(max_error_share=1.0))
    return fingerprint_samples(result.samples, file_sha256(path), audio_fingerprint.fingerprint_file(path))


def distances(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(2, nq, nr): per query orientation, the least Hamming distance over every pair of views, the
    reference taken upright. ``query`` (nq, views, 2, 4), ``ref`` (nr, views, >=1, 4)."""
    nq, views, orientations, words = query.shape
    nr, ref_views = len(ref), ref.shape[1]
    # View-major rows on both sides, so the minimum over views is a few whole-block minimums: NumPy's
    # multi-axis reductions of small strided arrays cost more than the popcounts.
    q = np.ascontiguousarray(query.transpose(1, 2, 0, 3)).reshape(-1, words)  # (views * 2 * nq, 4)
    r = np.ascontiguousarray(ref[:, :, 0, :].transpose(1, 0, 2)).reshape(-1, words)  # (ref_views * nr, 4)
    best = np.empty((orientations, nq, nr), np.int32)
    step = max(1, _DISTANCE_BLOCK // max(1, views * orientations * ref_views * nr))  # query frames per block
    for a in range(0, nq, step):  # blocks of query frames bound the temporaries for long clips
        qb = q.reshape(views, orientations, nq, words)[:, :, a:a + step].reshape(-1, words)
        d = np.bitwise_count(qb[:, None, 0] ^ r[None, :, 0]).astype(np.uint16)
        for w in range(1, words):
            d += np.bitwise_count(qb[:, None, w] ^ r[None, :, w])
        d = d.reshape(views, -1, ref_views, nr)
        m = d[0].copy()
        for v in range(1, views):
            np.minimum(m, d[v], out=m)
        out = m[:, 0].copy()
        for v in range(1, ref_views):
            np.minimum(out, m[:, v], out=out)
        best[:, a:a + step] = out.reshape(orientations, -1, nr)
    return best


@dataclass(frozen=True)
class _Alignment:
    matched: int
    considered: int
    distance: float
    offset_s: float
    mirrored: bool

    @property
    def share(self) -> float:
        return self.matched / self.considered if self.considered else 0.0


def _align(d: np.ndarray, tq: np.ndarray, tr: np.ndarray, max_bits: int) -> _Alignment | None:
    """The orientation and offset at which the largest share of reference frames (at least MIN_FRAMES)
    has a query frame within ``max_bits``; ties go to the first orientation, then the earliest offset."""
    best: _Alignment | None = None
    nr = len(tr)
    span = min(tq.max() - tq.min(), tr.max() - tr.min())
    for o in range(d.shape[0]):
        qi, rj = np.nonzero(d[o] <= max_bits)
        if qi.size == 0:
            continue
        offsets = tq[qi] - tr[rj]
        pair = d[o][qi, rj]
        candidates = np.unique(np.round(offsets / OFFSET_STEP_S) * OFFSET_STEP_S)
        step = max(1, _ALIGN_BLOCK // qi.size)
        for a in range(0, candidates.size, step):  # every candidate offset at once, in blocks
            offset = candidates[a:a + step]
            k, p = np.nonzero(np.abs(offsets[None, :] - offset[:, None]) <= OFFSET_TOLERANCE_S)
            # Each reference frame by its closest query frame in step (neighbours within the tolerance are not).
            cell = k * nr + rj[p]
            order = np.lexsort((pair[p], cell))
            cell, dist = cell[order], pair[p][order]
            first = np.r_[True, cell[1:] != cell[:-1]]
            cell, dist = cell[first], dist[first]
            which = cell // nr
            matched = np.bincount(which, minlength=offset.size)
            # Over half the shorter clip: the last frames of one take and the first of another of the same
            # scene otherwise line up as a "whole" match.
            common = np.minimum(tq.max(), tr.max() + offset) - np.maximum(tq.min(), tr.min() + offset)
            valid = (matched >= MIN_FRAMES) & ~(common < MIN_OVERLAP * span)
            if not valid.any():
                continue
            shifted = tr[None, :] + offset[:, None]
            overlap = ((shifted >= tq.min() - OFFSET_TOLERANCE_S)
                       & (shifted <= tq.max() + OFFSET_TOLERANCE_S)).sum(axis=1)
            considered = np.maximum(overlap, matched)
            distance = _group_medians(dist, which, offset.size)
            for i in np.flatnonzero(valid).tolist():
                m, c, dm = int(matched[i]), int(considered[i]), float(distance[i])
                if best is None or (m / c, m, -dm) > (best.share, best.matched, -best.distance):
                    best = _Alignment(m, c, dm, float(offset[i]), bool(o == 1))
    return best


def _group_medians(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """np.median of ``values`` per group 0..n-1 (NaN where a group is empty)."""
    order = np.lexsort((values, groups))
    v = values[order].astype(np.float64)
    counts = np.bincount(groups, minlength=n)
    mid = np.cumsum(counts) - counts + counts // 2
    if v.size == 0:
        return np.full(n, np.nan)
    upper = v[np.minimum(mid, v.size - 1)]
    lower = v[np.clip(mid - 1, 0, v.size - 1)]
    return np.where(counts == 0, np.nan, np.where(counts % 2 == 1, upper, (lower + upper) / 2))


def _with_foreground(fp: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
    """Times and foreground hashes of the frames whose foreground is strong enough to hash."""
    present = fp.foreground.reshape(len(fp), -1).any(axis=1)
    return fp.times[present], fp.foreground[present]


def _near(query: Fingerprint, ref: Fingerprint, picture: _Alignment) -> bool:
    """Does a still scene's picture agree to the noise, and better at this offset than away from it? Then it
    is the same footage (a hard re-encode may leave no foreground to match), not another take of the scene."""
    if picture.distance > NEAR_BITS:
        return False
    d = distances(query.hashes, ref.hashes)[int(picture.mirrored)]
    apart = np.abs(query.times[:, None] - ref.times[None, :] - picture.offset_s) >= 1.0
    return bool(apart.any()) and picture.distance + SPECIFIC_BITS <= float(np.median(d[apart]))


def match(query: Fingerprint, ref: Fingerprint, *, max_bits: int = FRAME_BITS) -> Match:
    """Is the dense ``query`` a copy of (a part of) the reference ``ref``, or the other way round?

    The picture decides for clips that move; for a still scene only a near-identical picture does. Failing
    that, the foreground decides: it also carries a copy whose picture a sticker or caption moved too far."""
    return _match(query, ref, max_bits)[0]


def match_either_way(query: Fingerprint, ref: Fingerprint) -> Match:
    """``match(query, ref)``, else ``match(ref, query.reference())``: the stored video may be the edited one.

    The second is skipped when it cannot succeed: its upright frame pairs are a subset of the first's, so
    with fewer than MIN_FRAMES close ones there (the usual case for a chance candidate) it would fail."""
    sound = _Sound(query.audio, ref.audio)
    first, reversible = _match(query, ref, FRAME_BITS, sound)
    if first.duplicate or not reversible or not len(ref):
        return first
    back, _ = _match(ref, query.reference(), FRAME_BITS, sound.reversed())  # the same sound: compared once
    return back if back.duplicate else first


_NOT_YET = object()


class _Sound:
    """Two soundtracks' comparison, made only when a still scene needs it and at most once a pair."""

    def __init__(self, query: AudioPrint, ref: AudioPrint, known: object = _NOT_YET) -> None:
        self._query, self._ref, self._value = query, ref, known

    def get(self) -> AudioMatch | None:
        if self._value is _NOT_YET:
            self._value = audio_fingerprint.compare(self._query, self._ref)
        return self._value if isinstance(self._value, AudioMatch) else None

    def reversed(self) -> _Sound:
        """The other way round: the same bit error rate, the offset negated."""
        value = self._value
        if isinstance(value, AudioMatch):
            value = replace(value, offset_s=-value.offset_s)
        return _Sound(self._ref, self._query, value)


def _match(query: Fingerprint, ref: Fingerprint, max_bits: int, sounds: _Sound | None = None) -> tuple[Match, bool]:
    """The match, and whether the other way round could match (enough close upright pairs)."""
    if query.sha256 and query.sha256 == ref.sha256:
        return Match(True, True, 0.0, len(ref), len(ref), 0.0), True
    if len(query) == 0 or len(ref) == 0:
        return Match(False, False, 256.0, 0, len(ref), 0.0), False
    d = distances(query.hashes, ref.hashes)
    picture = _align(d, query.times, ref.times, max_bits)
    if picture is not None and picture.share >= MIN_SHARE:
        if not (query.still or ref.still):
            return _picture_match(picture), True
        sound = (sounds or _Sound(query.audio, ref.audio)).get()  # None unless both have sound
        if _near(query, ref, picture):
            # The same footage to the noise, unless both clips have sound and it clearly differs (another
            # take from the same camera, or a still image re-used under other sound); the foreground may
            # still show it is a copy.
            if sound is None or not sound.different:
                return _picture_match(picture, sound if sound is not None and sound.same else None), True
        elif sound is not None and sound.same:
            # Close but ambiguous (another take from this camera would look as close): a copy if the
            # picture also lines up where the soundtrack does.
            near = np.abs(query.times[:, None] - ref.times[None, :] - sound.offset_s) <= SOUND_OFFSET_TOLERANCE_S
            at = _align(np.where(near[None], d, 256), query.times, ref.times, max_bits)
            if at is not None and at.share >= MIN_SHARE:
                return _picture_match(at, sound), True
    reversible = int(np.count_nonzero(d[0] <= max_bits)) >= MIN_FRAMES
    (tq, fq), (tr, fr) = _with_foreground(query), _with_foreground(ref)
    moving = None
    if len(tq) and len(tr):
        d = distances(fq, fr)
        moving = _align(d, tq, tr, FOREGROUND_BITS)
        reversible = reversible or int(np.count_nonzero(d[0] <= FOREGROUND_BITS)) >= MIN_FRAMES
    if moving is not None and moving.share >= MIN_FOREGROUND_SHARE:
        return Match(True, False, moving.distance, moving.matched, moving.considered, moving.offset_s,
                     moving.mirrored, True), True
    best = picture or moving
    if best is None:
        return Match(False, False, 256.0, 0, len(ref), 0.0), reversible
    return Match(False, False, best.distance, best.matched, best.considered, best.offset_s, best.mirrored), reversible


def _picture_match(picture: _Alignment, sound: AudioMatch | None = None) -> Match:
    return Match(True, False, picture.distance, picture.matched, picture.considered, picture.offset_s,
                 picture.mirrored, soundtrack=sound)


def compare(a: Fingerprint, b: Fingerprint) -> Match:
    """Symmetric comparison of two dense fingerprints (which one is the original is unknown)."""
    first, second = match(a, b.reference()), match(b, a.reference())
    if first.duplicate != second.duplicate:
        return first if first.duplicate else second
    return first if first.distance <= second.distance else second
