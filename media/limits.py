"""What an upload must be to become a video: limits as a value, checked against a probe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from media.errors import MediaError

if TYPE_CHECKING:  # probe imports PyAV; the limits are also read where nothing is decoded (settings, the edge)
    from media.probe import SourceInfo

# Pixel formats phones, cameras and editors actually produce; anything else (palettes, bayer, 1-bit,
# exotic packings) is refused rather than risking a wrong-looking encode.
SUPPORTED_PIX_FMTS = frozenset({
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21",
    "yuv420p10le", "yuv422p10le", "yuv444p10le", "p010le", "yuv420p12le",
    "rgb24", "bgr24", "rgba", "bgra", "argb", "abgr", "gbrp", "gray", "gray10le", "yuva420p",
})


@dataclass(frozen=True)
class Limits:
    min_duration_s: float = 1.0
    max_duration_s: float = 180.0
    max_bytes: int = 200 * 1024 * 1024
    min_side: int = 144
    max_side: int = 4096
    min_fps: float = 5.0
    max_fps: float = 240.0
    # Share of packets that may fail to decode before the upload counts as corrupt.
    max_error_share: float = 0.02
    pixel_formats: frozenset[str] = field(default_factory=lambda: SUPPORTED_PIX_FMTS)


def check_limits(info: SourceInfo, limits: Limits) -> None:
    """Raise :class:`MediaError` naming the first limit ``info`` breaks."""
    if info.size_bytes > limits.max_bytes:
        raise MediaError("too_large", f"the file is {info.size_bytes / 2**20:.0f} MiB; "
                                      f"the limit is {limits.max_bytes / 2**20:.0f} MiB")
    if info.duration_s < limits.min_duration_s:
        raise MediaError("too_short", f"the video lasts {info.duration_s:.2f} s; "
                                      f"at least {limits.min_duration_s:g} s is needed")
    if info.duration_s > limits.max_duration_s:
        raise MediaError("too_long", f"the video lasts {info.duration_s:.0f} s; "
                                     f"the limit is {limits.max_duration_s:g} s")
    short, long_ = sorted((info.width, info.height))
    if short < limits.min_side:
        raise MediaError("resolution_too_low", f"the picture is {info.width}x{info.height}; "
                                               f"each side must be at least {limits.min_side} pixels")
    if long_ > limits.max_side:
        raise MediaError("resolution_too_high", f"the picture is {info.width}x{info.height}; "
                                                f"no side may exceed {limits.max_side} pixels")
    if not limits.min_fps <= float(info.fps) <= limits.max_fps:
        raise MediaError("bad_frame_rate", f"the frame rate is {float(info.fps):.2f} fps; it must be between "
                                           f"{limits.min_fps:g} and {limits.max_fps:g}")
    if info.pix_fmt not in limits.pixel_formats:
        raise MediaError("unsupported_pixel_format", f"the pixel format {info.pix_fmt!r} is not supported")
