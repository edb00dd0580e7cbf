"""The codec vocabulary: the video codecs Reelflow encodes, parsed in one place, and the RFC 6381 codec
strings read from the init segment the encoder actually produced.

Settings, the CLI, the DAGs' params and the encoders all take codec names through :func:`parse_codecs`,
so "h265", "AV1 " or an empty list are refused the same way, with the same sentence, everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Codec(StrEnum):
    """A video codec of the ladder. A ``str``: it is its own JSON, XCom and conf value."""

    H264 = "h264"
    HEVC = "hevc"
    AV1 = "av1"


CODEC_NAMES: tuple[str, ...] = tuple(c.value for c in Codec)


class UnknownCodec(ValueError):
    pass


def parse_codec(name: str) -> Codec:
    """One codec name (case and surrounding spaces forgiven), or :class:`UnknownCodec` naming the choices."""
    try:
        return Codec(str(name).strip().lower())
    except ValueError:
        raise UnknownCodec(f"unknown codec {name!r}; Reelflow encodes {', '.join(CODEC_NAMES)}") from None


def parse_codecs(names: str | Iterable[str]) -> tuple[Codec, ...]:
    """A non-empty list of codecs, as a comma-separated string or an iterable; order kept, repeats dropped."""
    items = names.split(",") if isinstance(names, str) else list(names)
    codecs = tuple(dict.fromkeys(parse_codec(n) for n in items if str(n).strip()))
    if not codecs:
        raise UnknownCodec(f"name at least one codec of {', '.join(CODEC_NAMES)}")
    return codecs


AAC_LC = "mp4a.40.2"


def _box_payload(data: bytes, box: bytes) -> bytes | None:
    at = data.find(box)
    if at < 4:
        return None
    size = int.from_bytes(data[at - 4:at], "big")
    return data[at + 4:at - 4 + size]


def _avc(avcc: bytes) -> str:
    profile, compat, level = avcc[1], avcc[2], avcc[3]
    return f"avc1.{profile:02X}{compat:02X}{level:02X}"


def _hevc(hvcc: bytes, tag: str) -> str:
    """ISO/IEC 14496-15 annex E: hvc1.<space><profile>.<compat, bit-reversed>.<tier><level>.<constraints>."""
    space = "" if hvcc[1] >> 6 == 0 else "ABC"[(hvcc[1] >> 6) - 1]
    tier = "H" if hvcc[1] & 0x20 else "L"
    profile = hvcc[1] & 0x1F
    compat = int(f"{int.from_bytes(hvcc[2:6], 'big'):032b}"[::-1], 2)
    constraints = list(hvcc[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    tail = "".join(f".{b:X}" for b in constraints)
    return f"{tag}.{space}{profile}.{compat:X}.{tier}{hvcc[12]}{tail}"


def _av1(av1c: bytes) -> str:
    """AV1 codec ISO media file format binding, section 5: av01.<profile>.<level><tier>.<bit depth>."""
    profile, level = av1c[1] >> 5, av1c[1] & 0x1F
    tier = "H" if av1c[2] & 0x80 else "M"
    high, twelve = bool(av1c[2] & 0x40), bool(av1c[2] & 0x20)
    depth = 12 if (high and twelve) else 10 if high else 8
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"


def video_codec_string(init_segment: bytes) -> str:
    """The CODECS entry for a video init segment (H.264, HEVC or AV1).

    Reading the configuration box rather than assuming a profile keeps CODECS true whatever the
    encoder chose (x264 drops to Main on some inputs; NVENC picks its own level).
    """
    if (avcc := _box_payload(init_segment, b"avcC")) is not None and len(avcc) >= 4:
        return _avc(avcc)
    if (hvcc := _box_payload(init_segment, b"hvcC")) is not None and len(hvcc) >= 13:
        return _hevc(hvcc, "hvc1" if b"hvc1" in init_segment else "hev1")
    if (av1c := _box_payload(init_segment, b"av1C")) is not None and len(av1c) >= 3:
        return _av1(av1c)
    raise ValueError("init segment holds no codec configuration box Reelflow knows (avcC, hvcC, av1C)")


def audio_codec_string(init_segment: bytes) -> str:
    if b"mp4a" in init_segment:
        return AAC_LC
    raise ValueError("init segment holds no AAC sample entry")
