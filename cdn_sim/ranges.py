"""HTTP byte ranges (RFC 9110 §14) as a pure function: which bytes of a representation to send.

Supported: one range ``a-b``, open-ended ``a-``, suffix ``-n``. Several ranges are answered with the
whole representation (a 200 is always allowed, and multipart/byteranges buys a player nothing).
A ``bytes=`` header that does not parse is answered 416, which RFC 9110 §15.5.17 permits for invalid
ranges; a header in another unit is ignored, as the RFC requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RANGE_HEADER = 1024  # longer is hostile, not a player
MAX_RANGES = 16

_SPEC = re.compile(r"(\d{0,19})-(\d{0,19})")  # 19 digits: larger offsets cannot exist


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(ValueError):
    """Answer 416 with ``Content-Range: bytes */<size>``."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to send; None for the whole representation (200); raises :class:`RangeNotSatisfiable`."""
    if header is None:
        return None
    header = header.strip()
    unit, sep, ranges = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None  # another unit, or not a Range at all: ignore it and send everything
    if len(header) > MAX_RANGE_HEADER:
        raise RangeNotSatisfiable("Range header too long")
    specs = [s.strip() for s in ranges.split(",")]
    if len(specs) > MAX_RANGES:
        raise RangeNotSatisfiable("too many ranges")
    parsed: list[tuple[int | None, int | None]] = []
    for spec in specs:
        m = _SPEC.fullmatch(spec)
        if m is None or not (m[1] or m[2]):
            raise RangeNotSatisfiable(f"invalid range {spec!r}")
        first, last = (int(m[1]) if m[1] else None), (int(m[2]) if m[2] else None)
        if first is not None and last is not None and last < first:
            raise RangeNotSatisfiable(f"invalid range {spec!r}")
        parsed.append((first, last))
    satisfiable = [r for r in (_resolve(f, la, size) for f, la in parsed) if r is not None]
    if not satisfiable:
        raise RangeNotSatisfiable(f"no range within {size} bytes")
    if len(parsed) > 1:
        return None
    return satisfiable[0]


def _resolve(first: int | None, last: int | None, size: int) -> ByteRange | None:
    if first is None:  # suffix: the last `last` bytes
        if not last or size == 0:
            return None
        return ByteRange(max(0, size - last), size - 1)
    if first >= size:
        return None
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))
