"""Poster frames and scrub sprites.

The poster is the sharpest representative frame: variance of the Laplacian over the scan's samples,
skipping black, white and uniform frames and preferring the middle of the video to intros and fades.
It is then decoded again at full resolution, upright, and written in two sizes as JPEG and WebP. The
sprite sheet tiles one small frame per second, with a WebVTT file that maps time ranges to tiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from media.errors import MediaError
from media.frames import to_gray
from media.scan import Samples, upright

POSTER_SIZES = (720, 360)  # long side in pixels; never upscaled
TILE_WIDTH = 160
SPRITE_COLUMNS = 10


@dataclass(frozen=True)
class Thumbnails:
    poster_time_s: float
    posters: tuple[str, ...]  # file names in the output directory, largest JPEG first
    sprite: str
    vtt: str


def sharpness(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).var())


def choose_poster(samples: Samples) -> float:
    """The time (s) of the sharpest non-uniform sample, favouring the central 80 % of the video."""
    if len(samples) == 0:
        raise MediaError("undecodable", "no frames were sampled to choose a poster from")
    gray = to_gray(samples.images.astype(np.float32))
    end = float(samples.times.max()) or 1.0
    best_t, best_score = float(samples.times[len(samples) // 2]), -1.0
    for t, g in zip(samples.times, gray, strict=True):
        mean, std = float(g.mean()), float(g.std())
        if mean < 20 or mean > 235 or std < 12:  # black, white or flat: never a poster
            continue
        central = 0.1 * end <= t <= 0.9 * end
        score = sharpness(g) * (1.0 if central else 0.5)
        if score > best_score:
            best_t, best_score = float(t), score
    return best_t


def frame_at(src: str | Path, t: float, rotation: int = 0) -> np.ndarray:
    """The full-resolution upright RGB frame at (or just after) ``t`` seconds from the first frame."""
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        target = start + t
        c.seek(int(target / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in c.decode(stream):
            last = frame
            if frame.time is not None and frame.time >= target - 1e-3:
                break
        if last is None:
            raise MediaError("undecodable", f"no frame could be decoded at {t:.2f} s")
        return upright(last.to_ndarray(format="rgb24"), rotation)


def _resize_long_side(img: np.ndarray, long_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale == 1.0:
        return img
    return cv2.resize(img, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)


def _vtt_time(t: float) -> str:
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def write_thumbnails(src: str | Path, samples: Samples, out_dir: str | Path, *, rotation: int = 0,
                     interval_s: float = 1.0) -> Thumbnails:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = choose_poster(samples)
    bgr = cv2.cvtColor(frame_at(src, t, rotation), cv2.COLOR_RGB2BGR)
    posters = []
    for size in POSTER_SIZES:
        img = _resize_long_side(bgr, size)
        for ext, params in ((".jpg", [cv2.IMWRITE_JPEG_QUALITY, 85]), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80])):
            name = f"poster_{size}{ext}"
            if not cv2.imwrite(str(out_dir / name), img, params):
                raise OSError(f"could not write {out_dir / name}")
            posters.append(name)

    # Sprite: the first sample at or after each interval boundary.
    picks, next_t = [], 0.0
    for i, st in enumerate(samples.times):
        if st >= next_t:
            picks.append(i)
            next_t = (int(st / interval_s) + 1) * interval_s
    h, w = samples.images.shape[1:3]
    tile_h = max(2, round(TILE_WIDTH * h / w))
    rows = max(1, -(-len(picks) // SPRITE_COLUMNS))
    sheet = np.zeros((rows * tile_h, min(len(picks), SPRITE_COLUMNS) * TILE_WIDTH, 3), np.uint8)
    cues = ["WEBVTT", ""]
    end_of_video = float(samples.times.max()) + interval_s
    for n, i in enumerate(picks):
        r, c = divmod(n, SPRITE_COLUMNS)
        x, y = c * TILE_WIDTH, r * tile_h
        sheet[y:y + tile_h, x:x + TILE_WIDTH] = cv2.resize(samples.images[i], (TILE_WIDTH, tile_h),
                                                           interpolation=cv2.INTER_AREA)
        t0 = n * interval_s
        t1 = min((n + 1) * interval_s, end_of_video)
        cues += [f"{_vtt_time(t0)} --> {_vtt_time(t1)}", f"sprite.jpg#xywh={x},{y},{TILE_WIDTH},{tile_h}", ""]
    if not cv2.imwrite(str(out_dir / "sprite.jpg"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_JPEG_QUALITY, 80]):
        raise OSError(f"could not write {out_dir / 'sprite.jpg'}")
    (out_dir / "sprite.vtt").write_text("\n".join(cues))
    return Thumbnails(poster_time_s=t, posters=tuple(posters), sprite="sprite.jpg", vtt="sprite.vtt")
