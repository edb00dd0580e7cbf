"""I-frame playlists (RFC 8216 4.3.3.6) for fMP4 renditions: trick play and scrubbing previews.

Every segment starts with its keyframe, so an I-frame entry is a byte range from the start of the
segment through the end of its first sample, found by reading the fragment's ``moof/traf/trun``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import m3u8

IFRAMES_NAME = "iframes.m3u8"


@dataclass(frozen=True)
class IFramePlaylistInfo:
    uri: str  # relative to the media playlist's directory
    peak_bps: int


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) for each box in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise ValueError(f"corrupt box {kind!r} at {pos}")
        yield kind, pos + header, pos + size
        pos += size


def first_sample_end(segment: bytes) -> int:
    """Byte offset just past the first sample (the keyframe) of an fMP4 media segment."""
    for kind, body, end in _boxes(segment, 0, len(segment)):
        if kind != b"moof":
            continue
        moof_start = body - 8
        for tkind, tbody, tend in _boxes(segment, body, end):
            if tkind != b"traf":
                continue
            default_size = None
            for bkind, bbody, _bend in _boxes(segment, tbody, tend):
                flags = int.from_bytes(segment[bbody + 1:bbody + 4], "big")
                if bkind == b"tfhd":
                    pos = bbody + 8  # version/flags, track_ID
                    pos += 8 if flags & 0x1 else 0
                    pos += 4 if flags & 0x2 else 0
                    pos += 4 if flags & 0x8 else 0
                    if flags & 0x10:
                        default_size = int.from_bytes(segment[pos:pos + 4], "big")
                elif bkind == b"trun":
                    pos = bbody + 8  # version/flags, sample_count
                    data_offset = 0
                    if flags & 0x1:
                        data_offset = int.from_bytes(segment[pos:pos + 4], "big", signed=True)
                        pos += 4
                    pos += 4 if flags & 0x4 else 0
                    pos += 4 if flags & 0x100 else 0
                    size = int.from_bytes(segment[pos:pos + 4], "big") if flags & 0x200 else default_size
                    if size is None:
                        raise ValueError("trun gives no size for the first sample")
                    return moof_start + data_offset + size
    raise ValueError("no moof/traf/trun found: not an fMP4 media segment")


def write_iframe_playlist(media_playlist: Path) -> IFramePlaylistInfo:
    """Write ``iframes.m3u8`` beside a VOD fMP4 media playlist."""
    media = m3u8.load(str(media_playlist))
    base = media_playlist.parent
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{media.target_duration}",
             "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-I-FRAMES-ONLY", f'#EXT-X-MAP:URI="{media.segment_map[0].uri}"']
    peak = 0.0
    for seg in media.segments:
        length = first_sample_end((base / seg.uri).read_bytes())
        peak = max(peak, length * 8 / max(float(seg.duration), 0.5 * media.target_duration))
        lines += [f"#EXTINF:{float(seg.duration):.6f},", f"#EXT-X-BYTERANGE:{length}@0", seg.uri]
    lines.append("#EXT-X-ENDLIST")
    (base / IFRAMES_NAME).write_text("\n".join(lines) + "\n")
    return IFramePlaylistInfo(IFRAMES_NAME, int(math.ceil(peak)))
