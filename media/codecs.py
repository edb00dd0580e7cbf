"""RFC 6381 codec strings read from the init segment the encoder actually produced."""

from __future__ import annotations

AAC_LC = "mp4a.40.2"


def _box_payload(data: bytes, box: bytes) -> bytes | None:
    at = data.find(box)
    if at < 4:
        return None
    size = int.from_bytes(data[at - 4:at], "big")
    return data[at + 4:at - 4 + size]


def video_codec_string(init_segment: bytes) -> str:
    """``avc1.PPCCLL`` from the avcC box of an fMP4 init segment.

    Reading the box rather than assuming a profile keeps CODECS true whatever the encoder chose
    (x264 drops to Main or Baseline on some inputs; NVENC picks its own level).
    """
    avcc = _box_payload(init_segment, b"avcC")
    if avcc is not None and len(avcc) >= 4:
        profile, compat, level = avcc[1], avcc[2], avcc[3]
        return f"avc1.{profile:02X}{compat:02X}{level:02X}"
    raise ValueError("init segment holds no codec configuration box Reelflow knows (avcC)")


def audio_codec_string(init_segment: bytes) -> str:
    if b"mp4a" in init_segment:
        return AAC_LC
    raise ValueError("init segment holds no AAC sample entry")
