"""Audio fingerprints for dedup: 32-bit spectral sub-fingerprints per 32 ms frame (Haitsma and Kalker's scheme).

Re-posts keep the soundtrack; two takes from one fixed camera, whose pictures are alike, do not share theirs.
The picture decides dedup; the soundtrack only settles what the picture leaves open (see
:func:`media.fingerprint.match`).

The audio is decoded to mono at 8 kHz (``SAMPLE_RATE``) and cut into 256 ms frames every 32 ms. Each frame's
energy in 33 bands spaced evenly in log-frequency between 300 and 3000 Hz (where speech and music carry their
identity and what a 32 kbps AAC encoder keeps) gives 32 bits: bit m says whether the energy difference of bands
m and m+1 grew since the previous frame. Signs of energy differences ignore gain, and a low-bitrate re-encode
flips 5-25 % of them, while unrelated audio flips half. Frames well below the clip's loud ones (pauses, silence)
are marked quiet and never compared: silence would otherwise match silence.

Two prints are compared at every time offset at once (correlations by FFT): the bit error rate (BER) over the
frames loud in both. A speed change of more than ~1 % drifts frames out of step within a few seconds; no edit
of the dedup corpus changes speed, so none is searched for.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 8000
FRAME = 2048  # samples: 256 ms, long enough that a frame misaligned by half a hop still shares 94 % of its audio
HOP = 256  # samples: 32 ms
HOP_S = HOP / SAMPLE_RATE
BANDS = 33  # band edges give 32 adjacent differences, one bit each
LOW_HZ, HIGH_HZ = 300.0, 3000.0
QUIET_DB = 30.0  # a frame this far below the clip's loud frames (its 95th percentile) is quiet
SILENCE_DB = -70.0  # dBFS: below this a frame is silence whatever the clip
MAX_SECONDS = 600.0  # decoded at most; an upload's duration limit is far below this
MATCH_BER = 0.30  # copies re-encoded at 32 kbps sit at 0.10-0.25; unrelated audio at 0.45-0.5
DIFFERENT_BER = 0.42  # no offset better than this: clearly different soundtracks
MIN_COMMON_S = 3.0  # loud frames in common for any verdict ...
MIN_COMMON_SHARE = 0.5  # ... and this share of the quieter clip's loud frames
_MAGIC = b"RFA1"


@dataclass(frozen=True)
class AudioPrint:
    hashes: np.ndarray  # uint32 (n,): one sub-fingerprint per frame, frame i starting at i * HOP_S
    loud: np.ndarray  # bool (n,): frames worth comparing

    @classmethod
    def empty(cls) -> AudioPrint:
        return cls(np.zeros(0, np.uint32), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def audible(self) -> bool:
        """Enough sound to compare (a silent or absent track is not)."""
        return int(self.loud.sum()) * HOP_S >= MIN_COMMON_S

    def to_bytes(self) -> bytes:
        n = len(self.hashes)
        return (_MAGIC + struct.pack("<I", n) + self.hashes.astype("<u4").tobytes()
                + np.packbits(self.loud).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> AudioPrint:
        """Reads what :meth:`to_bytes` wrote; extra bytes after it are an error."""
        if data[:4] != _MAGIC:
            raise ValueError("not an audio fingerprint")
        if len(data) < 8:
            raise ValueError("truncated audio fingerprint")
        (n,) = struct.unpack_from("<I", data, 4)
        if len(data) != 8 + 4 * n + (n + 7) // 8:
            raise ValueError("truncated audio fingerprint")
        hashes = np.frombuffer(data, "<u4", n, 8).astype(np.uint32)
        loud = np.unpackbits(np.frombuffer(data, np.uint8, (n + 7) // 8, 8 + 4 * n), count=n).astype(bool)
        return cls(hashes, loud)


@dataclass(frozen=True)
class AudioMatch:
    ber: float  # bit error rate at the best offset (0 identical, 0.5 unrelated)
    offset_s: float  # how much later the query's audio sits than the reference's
    frames: int  # loud frames compared at that offset

    @property
    def same(self) -> bool:
        return self.ber <= MATCH_BER

    @property
    def different(self) -> bool:
        return self.ber >= DIFFERENT_BER


@cache
def _band_matrix() -> np.ndarray:
    """(FRAME // 2 + 1, BANDS): FFT bins summed into each band."""
    edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    which = np.searchsorted(edges, freqs, side="right") - 1
    m = np.zeros((freqs.size, BANDS), np.float32)
    inside = (which >= 0) & (which < BANDS)
    m[np.flatnonzero(inside), which[inside]] = 1.0
    return m


def fingerprint_pcm(pcm: np.ndarray) -> AudioPrint:
    """The print of mono float samples at SAMPLE_RATE (full scale +-1)."""
    pcm = np.asarray(pcm, np.float32)
    if pcm.size < FRAME:
        return AudioPrint.empty()
    n = 1 + (pcm.size - FRAME) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(pcm, FRAME)[::HOP][:n]
    window = np.hanning(FRAME).astype(np.float32)
    spectrum = np.fft.rfft(frames * window, axis=1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    energy = power @ _band_matrix()  # (n, BANDS)
    level = 10 * np.log10(energy.sum(axis=1) / (FRAME * window.sum()) + 1e-20)
    loud = (level >= SILENCE_DB) & (level >= np.percentile(level, 95) - QUIET_DB)
    diff = energy[:, :-1] - energy[:, 1:]  # (n, 32)
    bits = np.zeros_like(diff, dtype=bool)
    bits[1:] = diff[1:] - diff[:-1] > 0
    weights = (1 << np.arange(31, -1, -1, dtype=np.uint64)).astype(np.uint64)
    hashes = (bits.astype(np.uint64) @ weights).astype(np.uint32)
    loud[0] = False  # the first frame has no predecessor
    return AudioPrint(hashes, loud)


def decode_mono(path: str | os.PathLike[str], *, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The first audio stream as mono float32 at SAMPLE_RATE; empty when there is none.

    Raises PyAV's errors on a broken stream; :func:`fingerprint_file` turns them into an empty print."""
    import av

    chunks: list[np.ndarray] = []
    total, limit = 0, int(max_seconds * SAMPLE_RATE)
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
            if total >= limit:
                break
        else:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return pcm[:limit].astype(np.float32, copy=False)


def fingerprint_file(path: str | os.PathLike[str], *, max_seconds: float = MAX_SECONDS) -> AudioPrint:
    """The print of a file's soundtrack; empty when it has none or it cannot be decoded (a broken audio
    stream must never cost the video its picture fingerprint)."""
    import av

    try:
        pcm = decode_mono(Path(path), max_seconds=max_seconds)
    except (av.FFmpegError, ValueError, OSError, EOFError):
        return AudioPrint.empty()
    return fingerprint_pcm(pcm)


@cache
def _fast_sizes() -> np.ndarray:
    """Lengths 2^a 3^b 5^c: pocketfft's fast sizes, much denser than powers of two."""
    sizes = {2**a * 3**b * 5**c for a in range(1, 24) for b in range(12) for c in range(9)}
    return np.array(sorted(x for x in sizes if x < 1 << 24), np.int64)


def _fast_size(n: int) -> int:
    """The smallest fast FFT length of at least ``n``."""
    sizes = _fast_sizes()
    return int(sizes[np.searchsorted(sizes, n)])


def _bits(hashes: np.ndarray) -> np.ndarray:
    """(n,) uint32 -> (32, n) float of 0/1."""
    return np.unpackbits(hashes.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1).T.astype(np.float64)


def compare(query: AudioPrint, ref: AudioPrint) -> AudioMatch | None:
    """The best offset between two prints and its bit error rate; None when they share too little sound to
    tell (either silent, or too little loud overlap at any offset)."""
    if not (query.audible and ref.audible):
        return None
    nq, nr = len(query), len(ref)
    size = _fast_size(nq + nr - 1)
    mq, mr = query.loud.astype(np.float64), ref.loud.astype(np.float64)
    bq, br = _bits(query.hashes) * mq, _bits(ref.hashes) * mr
    # Correlations at every lag by FFT (k: query frame i meets reference frame i - k + nr - 1), over the frames
    # loud on both sides: XOR count = ones(q) + ones(r) - 2 * both; rows 0 and 1 are the loud masks and the
    # ones per frame, the rest the 32 bits (whose products are summed before the one inverse transform).
    fq = np.fft.rfft(np.vstack([mq, bq.sum(axis=0), bq]), size, axis=1)
    fr = np.fft.rfft(np.vstack([mr, br.sum(axis=0), br])[:, ::-1], size, axis=1)
    spectra = np.stack([fq[0] * fr[0], fq[1] * fr[0] + fq[0] * fr[1] - 2 * (fq[2:] * fr[2:]).sum(axis=0)])
    common, errors = np.rint(np.fft.irfft(spectra, size, axis=1)[:, :nq + nr - 1])
    need = max(MIN_COMMON_S / HOP_S, MIN_COMMON_SHARE * min(mq.sum(), mr.sum()))
    valid = common >= need
    if not valid.any():
        return None
    ber = np.where(valid, errors / np.maximum(common, 1) / 32, np.inf)
    k = int(np.argmin(ber))
    return AudioMatch(max(0.0, float(ber[k])), (k - (nr - 1)) * HOP_S, int(common[k]))
