"""Which encoder makes each codec on this host, and how it is told to keep GOPs aligned.

NVENC is preferred where opening it succeeds (a GPU with an encoder and a driver); anything else
(no GPU, or a GPU without NVENC such as H100/H200) falls back to the software encoder for the same
ladder. Every encoder gets fixed GOPs with no scene-cut keyframes, so segments line up across rungs
and codecs.
"""

from __future__ import annotations

import os
from fractions import Fraction
from functools import cache

import av

from media.codecs import CODEC_NAMES, Codec, parse_codec
from media.ladder import Rung

# SVT-AV1 prints a banner and its whole configuration per encoder to stderr unless told not to.
os.environ.setdefault("SVT_LOG", "1")

CODECS = CODEC_NAMES
SOFTWARE = {Codec.H264: "libx264", Codec.HEVC: "libx265", Codec.AV1: "libsvtav1"}
NVENC = {Codec.H264: "h264_nvenc", Codec.HEVC: "hevc_nvenc", Codec.AV1: "av1_nvenc"}
# Bit budget relative to H.264 for the same picture quality (HEVC and AV1 need about 60 %).
BITRATE_SHARE = {Codec.H264: 1.0, Codec.HEVC: 0.6, Codec.AV1: 0.6}


@cache
def encoder_opens(name: str) -> bool:
    """True when this host can open ``name`` (a tiny 256x144 context; fails in milliseconds)."""
    if name not in av.codecs_available:
        return False
    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 256, 144, "yuv420p", Fraction(1, 30)
        ctx.open()
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    return True


def select_encoder(codec: str, *, allow_gpu: bool = True) -> str:
    """NVENC where it opens on this host (and ``allow_gpu``), else the software encoder. Raises
    :class:`~media.codecs.UnknownCodec` (a ``ValueError``) for a name outside the vocabulary."""
    codec = parse_codec(codec)
    if allow_gpu and encoder_opens(NVENC[codec]):
        return NVENC[codec]
    return SOFTWARE[codec]


def is_gpu_encoder(encoder: str) -> bool:
    return encoder in NVENC.values()


def encoder_options(encoder: str, rung: Rung, gop: int, *, preset: str, crf: int) -> dict[str, str]:
    """Options for one rung. ``rung.max_bitrate`` is already scaled for the codec."""
    maxrate, bufsize = rung.max_bitrate, rung.bufsize
    if encoder == "libx264":
        return {"preset": preset, "profile": "high", "crf": str(crf), "maxrate": str(maxrate),
                "bufsize": str(bufsize), "g": str(gop), "forced-idr": "1",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0"}
    if encoder == "libx265":
        return {"preset": preset, "crf": str(crf + 5), "g": str(gop), "forced-idr": "1",
                "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error:"
                               f"vbv-maxrate={maxrate // 1000}:vbv-bufsize={bufsize // 1000}"}
    if encoder == "libsvtav1":
        # Preset 10 is about 2.4x realtime at 720p on two cores; capped CRF through SVT's max bit rate.
        return {"preset": "10", "crf": str(crf + 15), "g": str(gop),
                "svtav1-params": f"scd=0:enable-overlays=0:mbr={maxrate // 1000}"}
    if encoder.endswith("_nvenc"):
        return {"preset": "p4", "rc": "vbr", "cq": str(crf + 2), "maxrate": str(maxrate), "bufsize": str(bufsize),
                "g": str(gop), "forced-idr": "1", "no-scenecut": "1", "strict_gop": "1"}
    raise ValueError(f"no options known for encoder {encoder!r}")
