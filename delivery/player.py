"""An HLS start-up player over HTTP/3: master -> variant -> media playlist -> init -> first segments.

It measures what a viewer feels at start: the time until the first segments of video (and audio)
are in hand, and how many bytes that took.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import m3u8

from delivery.h3client import H3Client, h3_connect


class PlaybackError(RuntimeError):
    pass


@dataclass
class StartupReport:
    url: str
    variant_uri: str
    variant_bandwidth: int
    resolution: str
    codecs: str
    segments_fetched: int
    bytes: int
    startup_s: float
    total_s: float
    requests: list[tuple[str, int, float]] = field(default_factory=list)  # (path, bytes, seconds)

    def summary(self) -> str:
        return (f"variant {self.resolution} {self.codecs} @ {self.variant_bandwidth / 1e6:.2f} Mb/s; "
                f"startup {self.startup_s * 1000:.0f} ms; {self.segments_fetched} segments, "
                f"{self.bytes / 1024:.0f} KiB in {self.total_s * 1000:.0f} ms over HTTP/3")


def choose_variant(master: m3u8.M3U8, start_bitrate: int) -> m3u8.Playlist:
    """The richest variant whose BANDWIDTH fits ``start_bitrate``, else the leanest one."""
    if not master.playlists:
        raise PlaybackError("master playlist lists no variants")
    ordered = sorted(master.playlists, key=lambda p: p.stream_info.bandwidth)
    fitting = [p for p in ordered if p.stream_info.bandwidth <= start_bitrate]
    return fitting[-1] if fitting else ordered[0]


async def _fetch(client: H3Client, url: str, log: list[tuple[str, int, float]]) -> bytes:
    t = time.perf_counter()
    resp = await client.get(url)
    if resp.status != 200:
        raise PlaybackError(f"GET {urlsplit(url).path} answered {resp.status}")
    log.append((urlsplit(url).path, len(resp.body), time.perf_counter() - t))
    return resp.body


async def _media_start(client: H3Client, playlist_url: str, segments: int,
                       log: list[tuple[str, int, float]]) -> tuple[int, float]:
    """Fetch a media playlist, its init segment and its first segments; (segments, time of the first)."""
    media = m3u8.loads((await _fetch(client, playlist_url, log)).decode(), uri=playlist_url)
    if not media.segments:
        raise PlaybackError(f"{playlist_url} lists no segments")
    init = media.segment_map[0].uri if media.segment_map else None
    if init:
        await _fetch(client, urljoin(playlist_url, init), log)
    first_at = 0.0
    wanted = media.segments[:segments]
    for i, seg in enumerate(wanted):
        await _fetch(client, urljoin(playlist_url, seg.uri), log)
        if i == 0:
            first_at = time.perf_counter()
    return len(wanted), first_at


async def play_startup(url: str, *, segments: int = 2, start_bitrate: int = 3_000_000, cafile: str | None = None,
                       verify: bool = True) -> StartupReport:
    start = time.perf_counter()
    log: list[tuple[str, int, float]] = []
    async with h3_connect(url, cafile=cafile, verify=verify) as client:
        master_body = await _fetch(client, url, log)
        master = m3u8.loads(master_body.decode(), uri=url)
        if not master.is_variant:
            raise PlaybackError(f"{url} is not a master playlist")
        variant = choose_variant(master, start_bitrate)
        video_url = urljoin(url, variant.uri)
        jobs = [_media_start(client, video_url, segments, log)]
        audio = next((m for m in variant.media if m.type == "AUDIO" and m.uri), None)
        if audio is not None:
            jobs.append(_media_start(client, urljoin(url, audio.uri), segments, log))
        results = await asyncio.gather(*jobs)  # video and audio load in parallel, as real players do
    end = time.perf_counter()
    first_ready = max(t for _, t in results)
    info = variant.stream_info
    return StartupReport(
        url=url, variant_uri=variant.uri, variant_bandwidth=info.bandwidth,
        resolution="x".join(map(str, info.resolution)) if info.resolution else "?", codecs=info.codecs or "",
        segments_fetched=sum(n for n, _ in results), bytes=sum(n for _, n, _ in log),
        startup_s=first_ready - start, total_s=end - start, requests=log,
    )
