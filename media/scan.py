"""One full decode pass over an upload: integrity (errors, truncation) and frame samples.

The samples (small, upright RGB frames at fixed timestamps) are what fingerprinting, poster choice
and content embedding read, so the source is decoded once for all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from media.errors import MediaError
from media.limits import Limits
from media.probe import SourceInfo

# Below this share of the declared duration actually decoded, the upload is called truncated.
MIN_DECODED_SHARE = 0.9


@dataclass(frozen=True)
class Samples:
    """Frames at fixed timestamps ``(k + 0.5) / rate`` — the same instants whatever the source fps."""

    times: np.ndarray  # float32 seconds from the first frame
    images: np.ndarray  # uint8 (n, h, w, 3) RGB, upright

    def save(self, path: str | os.PathLike[str]) -> None:
        np.savez_compressed(path, times=self.times, images=self.images)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Samples:
        with np.load(path) as data:
            return cls(times=data["times"], images=data["images"])

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class ScanResult:
    frames: int
    errors: int
    decoded_s: float
    variable_frame_rate: bool
    samples: Samples


def sample_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn an (h, w, c) array counter-clockwise by ``rotation`` degrees (PyAV's convention), as players do."""
    return np.ascontiguousarray(np.rot90(image, k=(rotation // 90) % 4)) if rotation else image


SAMPLE_RATE = 4.0  # dense enough that a trimmed copy's frames sit within 1/8 s of the original's
SAMPLE_LONG_SIDE = 192


def scan(path: str | os.PathLike[str], info: SourceInfo, limits: Limits, *, sample_rate: float = SAMPLE_RATE,
         sample_long_side: int = SAMPLE_LONG_SIDE) -> ScanResult:
    """Decode every video packet, counting failures; raise :class:`MediaError` if corrupt or truncated."""
    width, height = sample_size(info.width, info.height, sample_long_side)
    targets_end = info.duration_s
    next_index = 0
    times: list[float] = []
    images: list[np.ndarray] = []
    frames = errors = packets = 0
    t0: float | None = None
    last_t = 0.0
    intervals: list[float] = []
    try:
        container = av.open(str(Path(path)))
    except av.error.FFmpegError as exc:
        raise MediaError("not_media", f"not a media file FFmpeg can read ({exc})") from exc
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for packet in container.demux(stream):
            if packet.size:
                packets += 1
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                errors += 1
                continue
            for frame in decoded:
                if frame.time is None:
                    continue
                if t0 is None:
                    t0 = frame.time
                t = frame.time - t0
                if frames:
                    intervals.append(t - last_t)
                last_t = t
                frames += 1
                target = (next_index + 0.5) / sample_rate
                if t >= target and target < targets_end + 1:
                    small = frame.to_ndarray(format="rgb24", width=width, height=height)
                    images.append(upright(small, info.rotation))
                    times.append(t)
                    next_index = int(t * sample_rate - 0.5) + 1  # skip targets a long frame already covered
    if frames == 0:
        raise MediaError("undecodable", "no video frame could be decoded")
    if packets and errors / packets > limits.max_error_share:
        raise MediaError("corrupt", f"{errors} of {packets} video packets failed to decode")
    fps = float(info.fps) or 30.0
    decoded_s = last_t + 1.0 / fps
    if decoded_s < MIN_DECODED_SHARE * info.duration_s:
        raise MediaError("truncated", f"only {decoded_s:.1f} s of the declared {info.duration_s:.1f} s could be "
                                      "decoded; the upload looks truncated")
    gaps = np.asarray(intervals) if intervals else np.zeros(1)
    vfr = bool(gaps.size > 2 and gaps.std() > 0.1 * max(gaps.mean(), 1e-6))
    stacked = np.stack(images) if images else np.zeros((0, *upright(np.zeros((height, width, 3), np.uint8),
                                                                    info.rotation).shape), np.uint8)
    return ScanResult(frames=frames, errors=errors, decoded_s=decoded_s, variable_frame_rate=vfr,
                      samples=Samples(times=np.asarray(times, np.float32), images=stacked))
