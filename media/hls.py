"""HLS packaging helpers: measure media playlists and write the master playlist with m3u8.

FFmpeg's own master leaves the audio group out of BANDWIDTH and guesses CODECS; Reelflow writes the
master itself from what was encoded: peak and average segment bit rates measured on disk (RFC 8216
section 4.3.4.2), codec strings from the init segments, and resolutions from the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import m3u8

AUDIO_GROUP = "aud"


@dataclass(frozen=True)
class PlaylistStats:
    peak_bps: int
    average_bps: int
    target_duration: int
    segment_count: int
    duration_s: float


@dataclass(frozen=True)
class VideoVariant:
    uri: str
    width: int
    height: int
    frame_rate: Fraction
    codecs: str
    stats: PlaylistStats
    iframe_uri: str | None = None
    iframe_peak_bps: int = 0


@dataclass(frozen=True)
class AudioRendition:
    uri: str
    codecs: str
    channels: int
    stats: PlaylistStats
    name: str = "Default"
    language: str = "und"


def measure_media_playlist(path: Path) -> PlaylistStats:
    """Peak and average bit rate of a VOD media playlist's segments, from their sizes on disk."""
    playlist = m3u8.load(str(path))
    if not playlist.segments:
        raise ValueError(f"{path} lists no segments")
    base = path.parent
    peak = 0.0
    total_bits = 0
    total_s = 0.0
    for seg in playlist.segments:
        size = (base / seg.uri).stat().st_size
        duration = float(seg.duration)
        total_bits += size * 8
        total_s += duration
        # A very short final segment would inflate the peak; RFC 8216 measures over target-length windows.
        peak = max(peak, size * 8 / max(duration, 0.5 * float(playlist.target_duration or 1)))
    average = int(math.ceil(total_bits / total_s))
    return PlaylistStats(
        # The damped tail can leave the windowed peak a hair under the mean; a peak is never below it.
        peak_bps=max(int(math.ceil(peak)), average),
        average_bps=average,
        target_duration=int(playlist.target_duration or 0),
        segment_count=len(playlist.segments),
        duration_s=total_s,
    )


def build_master(variants: list[VideoVariant], audio: AudioRendition | None) -> str:
    """The master playlist text: one variant per rendition and codec, best first, audio folded into the
    bit rates; players keep the variants whose CODECS they support. I-frame playlists are listed too."""
    if not variants:
        raise ValueError("a master playlist needs at least one video variant")
    master = m3u8.M3U8()
    master.version = 7
    master.is_independent_segments = True
    if audio is not None:
        master.add_media(m3u8.Media(
            uri=audio.uri, type="AUDIO", group_id=AUDIO_GROUP, name=audio.name, language=audio.language,
            default="YES", autoselect="YES", channels=str(audio.channels),
        ))
    for v in sorted(variants, key=lambda v: v.stats.peak_bps, reverse=True):
        peak, average = v.stats.peak_bps, v.stats.average_bps
        codecs = v.codecs
        if audio is not None:
            peak += audio.stats.peak_bps
            average += audio.stats.average_bps
            codecs = f"{codecs},{audio.codecs}"
        stream_info = {
            "bandwidth": peak,
            "average_bandwidth": average,
            "resolution": f"{v.width}x{v.height}",
            "frame_rate": round(float(v.frame_rate), 3),
            "codecs": codecs,
        }
        if audio is not None:
            stream_info["audio"] = AUDIO_GROUP
        master.add_playlist(m3u8.Playlist(uri=v.uri, stream_info=stream_info, media=master.media,
                                          base_uri=None))
    for v in sorted(variants, key=lambda v: v.iframe_peak_bps, reverse=True):
        if v.iframe_uri:
            master.iframe_playlists.append(m3u8.IFramePlaylist(base_uri=None, uri=v.iframe_uri, iframe_stream_info={
                "bandwidth": v.iframe_peak_bps, "resolution": f"{v.width}x{v.height}", "codecs": v.codecs}))
    return master.dumps()
