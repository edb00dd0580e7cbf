"""Ladder planning: a pure function from a source's shape to the renditions to encode."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

# H.264 peak bitrates (bit/s) at <= 30 fps by the rung's short side; capped-CRF encodes use them as the
# VBV ceiling, so easy content comes out smaller. Values follow common short-video ladders.
DEFAULT_H264_BITRATES: dict[int, int] = {240: 400_000, 360: 800_000, 480: 1_400_000, 720: 2_800_000,
                                         1080: 5_000_000, 1440: 9_000_000, 2160: 16_000_000}


@dataclass(frozen=True)
class LadderConfig:
    short_sides: tuple[int, ...] = (360, 480, 720, 1080)
    segment_seconds: float = 2.0
    max_fps: int = 60
    audio_bitrate: int = 128_000
    h264_bitrates: dict[int, int] = field(default_factory=lambda: dict(DEFAULT_H264_BITRATES))
    # A source whose short side is this much above the top standard rung gets its own native rung.
    native_rung_margin: float = 1.15


@dataclass(frozen=True)
class Rung:
    name: str
    width: int
    height: int
    max_bitrate: int

    @property
    def bufsize(self) -> int:
        return 2 * self.max_bitrate


@dataclass(frozen=True)
class LadderPlan:
    rungs: tuple[Rung, ...]
    fps: Fraction
    gop_frames: int
    segment_seconds: float
    audio_bitrate: int | None


def even(x: float) -> int:
    """Nearest even integer >= 2 (4:2:0 chroma needs even sides)."""
    return max(2, math.floor(x / 2.0 + 0.5) * 2)  # half-up: Python's round() would send 5 to 4


def output_fps(source_fps: Fraction | float | None, max_fps: int) -> Fraction:
    """The source rate, halved until it fits under ``max_fps`` (120 -> 60), 30 when unknown."""
    fps = Fraction(source_fps).limit_denominator(1001) if source_fps else Fraction(30)
    if fps <= 0:
        fps = Fraction(30)
    while fps > max_fps:
        fps /= 2
    return fps


def rung_bitrate(short_side: int, fps: Fraction, table: dict[int, int]) -> int:
    """Interpolate the table on the short side; scale for frame rates above 30 fps."""
    points = sorted(table.items())
    if short_side <= points[0][0]:
        base = points[0][1] * (short_side / points[0][0]) ** 2
    elif short_side >= points[-1][0]:
        base = points[-1][1] * (short_side / points[-1][0]) ** 2
    else:
        for (s0, b0), (s1, b1) in zip(points, points[1:], strict=False):
            if s0 <= short_side <= s1:
                base = b0 + (b1 - b0) * (short_side - s0) / (s1 - s0)
                break
    factor = 1.0 if fps <= 30 else 1.0 + 0.5 * min(1.0, float(fps - 30) / 30)
    return int(round(base * factor / 1000.0)) * 1000


def plan_ladder(width: int, height: int, fps: Fraction | float | None, has_audio: bool,
                config: LadderConfig | None = None) -> LadderPlan:
    """Rungs no larger than the source, aspect kept, even sides, one GOP per segment on every rung."""
    if width <= 0 or height <= 0:
        raise ValueError(f"source size must be positive, got {width}x{height}")
    config = config or LadderConfig()
    fps_out = output_fps(fps, config.max_fps)
    short, long_ = min(width, height), max(width, height)
    portrait = height > width

    sides = [s for s in sorted(set(config.short_sides)) if s <= short]
    if not sides or short > sides[-1] * config.native_rung_margin:
        sides.append(short)

    rungs = []
    for s in sides:
        # Never round past the source: 479 lines must not become a 480-line (upscaled) rung.
        s_even = min(even(s), short - short % 2)
        l_even = min(even(s * long_ / short), long_ - long_ % 2)
        w, h = (s_even, l_even) if portrait else (l_even, s_even)
        rungs.append(Rung(name=f"{s}p", width=w, height=h,
                          max_bitrate=rung_bitrate(s, fps_out, config.h264_bitrates)))
    gop = max(1, round(fps_out * Fraction(config.segment_seconds).limit_denominator(1000)))
    return LadderPlan(
        rungs=tuple(rungs),
        fps=fps_out,
        gop_frames=int(gop),
        segment_seconds=float(gop / fps_out),
        audio_bitrate=config.audio_bitrate if has_audio else None,
    )
