"""Feed playback: videos one after another over one QUIC connection, prefetching the next ones' starts.

While video *i* plays, a background task prefetches, for each of the next ``prefetch_depth`` videos, the
master, the media playlists of the rung the ABR would start on, the init segments and the first
``prefetch_segments`` segments of video and audio. Prefetching runs only while the current video does not
need the link (see :class:`delivery.fetch.Fetcher`) and stops at ``prefetch_budget_bytes`` of unplayed
prefetched data. On a swipe the next video starts from that cache: its startup is the time from the swipe
to the first segment of video and audio in hand, a few milliseconds when the prefetch completed, against
three round trips or more (master, playlist, init + segment) when it did not.

With prefetch hints (a feed card's ``prefetch``, ``delivery.prefetch_hints``) the prefetch of a video asks
for all of its start at once (master, media playlists, inits, first segments): one round trip instead of
three in series, so it fits in shorter idle moments and a swipe during it joins requests already on the
wire. The video then starts on the hinted rung.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from delivery.abr import ThroughputEstimator
from delivery.fetch import ConnectOptions, Fetcher, PlaybackError, RequestRecord, check_https_url
from delivery.player import PlaybackSession, PlayerConfig, SessionReport, VideoStart, open_video
from delivery.prefetch_hints import StartHint


@dataclass(frozen=True)
class FeedConfig:
    prefetch: bool = True
    prefetch_depth: int = 2  # how many of the next videos to prefetch
    prefetch_segments: int = 1  # segments per track (video and audio) for each of them
    prefetch_budget_bytes: int = 4_000_000  # unplayed prefetched bytes held at most

    def __post_init__(self) -> None:
        if self.prefetch_depth < 0 or self.prefetch_segments < 0 or self.prefetch_budget_bytes < 0:
            raise ValueError("prefetch depth, segments and budget must not be negative")


@dataclass
class FeedReport:
    sessions: list[SessionReport]
    wall_s: float
    prefetched_bytes: int  # fetched by prefetches
    wasted_bytes: int  # prefetched, then dropped unplayed
    errors: dict[str, str] = field(default_factory=dict)  # prefetch failures by URL (playback reports its own)
    requests: list[RequestRecord] = field(default_factory=list)  # every GET of the feed, in order
    swipes: list[float] = field(default_factory=list)  # time.perf_counter() at each video's tap or swipe

    def lines(self) -> list[str]:
        out = [f"video {i + 1}: {s.summary()}" for i, s in enumerate(self.sessions)]
        nexts = self.sessions[1:]
        warm = [s.startup_s for s in nexts if s.prefetch == "full" and s.startup_s is not None]
        cold = [s.startup_s for s in nexts if s.prefetch != "full" and s.startup_s is not None]
        if warm:
            out.append(f"next-video startup, prefetched: {_ms_range(warm)}")
        if cold:
            out.append(f"next-video startup, not (fully) prefetched: {_ms_range(cold)}")
        out.append(f"feed: {len(self.sessions)} videos in {self.wall_s:.1f} s; prefetched "
                   f"{self.prefetched_bytes / 1024:.0f} KiB, {self.wasted_bytes / 1024:.0f} KiB of it unplayed")
        return out


def _ms_range(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    digits = 1 if ms[-1] < 10 else 0  # cached starts take well under a millisecond
    fmt = f"{{:.{digits}f}}"
    if len(ms) == 1:
        return fmt.format(ms[0]) + " ms"
    return f"{fmt.format(ms[0])}-{fmt.format(ms[-1])} ms (median {fmt.format(ms[len(ms) // 2])} ms)"


def _video_dir(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/"


class Prefetcher:
    """Fills the fetcher's cache with the starts of upcoming videos, in feed order, at low priority."""

    def __init__(self, fetcher: Fetcher, estimator: ThroughputEstimator, config: PlayerConfig,
                 feed: FeedConfig, hints: Mapping[str, StartHint] | None = None) -> None:
        self.fetcher = fetcher
        self.hints = dict(hints or {})  # master URL -> its card's hint
        self.estimator = estimator
        self.config = config
        self.feed = feed
        self.starts: dict[str, VideoStart] = {}
        self.errors: dict[str, str] = {}
        self.bytes = 0
        self._task: asyncio.Task[None] | None = None

    def retarget(self, upcoming: Sequence[str]) -> None:
        """Prefetch these videos (in order) from now on; a window that moved on is dropped."""
        self.cancel()
        self._task = asyncio.ensure_future(self._run(list(upcoming)))

    def cancel(self) -> None:
        # Requests already on the wire keep going (the fetcher shields them): a swipe joins them.
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def take(self, url: str) -> VideoStart | None:
        return self.starts.pop(url, None)

    async def _run(self, upcoming: list[str]) -> None:
        for url in upcoming:
            if url in self.errors:
                continue
            try:
                await self._prefetch(url)
            except PlaybackError as exc:
                self.errors[url] = str(exc)  # the video's own playback will report it properly

    async def _get(self, url: str) -> None:
        await self.fetcher.wait_idle()
        fetched = await self.fetcher.get(url, foreground=False)
        if fetched.source == "network":
            self.bytes += len(fetched.body)

    async def _prefetch(self, url: str) -> None:
        start = self.starts.get(url)
        if start is None:
            await self.fetcher.wait_idle()
            before = len(self.fetcher.log)
            hint = self.hints.get(url)
            if hint is not None:  # the whole start in one round trip; open_video then reads the cache
                await asyncio.gather(*(self.fetcher.get(u, foreground=False) for u in hint.urls()))
            start = await open_video(url, self.fetcher, self.estimator, self.config, foreground=False,
                                     start_url=hint.rendition_url if hint else None)
            self.bytes += sum(r.bytes for r in self.fetcher.log[before:] if r.source == "network")
            # The playlists live on parsed in the VideoStart; their bytes need not stay in the cache.
            for parsed in (url, start.video.playlist_url, start.audio.playlist_url if start.audio else None):
                self.fetcher.cache.pop(parsed or "", None)
            self.starts[url] = start

        async def first(track) -> None:
            wanted = ([track.init_url] if track.init_url else []) + [u for u, _ in
                                                                       track.segments[:self.feed.prefetch_segments]]
            for part in wanted:
                if self.fetcher.cached_bytes >= self.feed.prefetch_budget_bytes:
                    return
                await self._get(part)

        await asyncio.gather(*(first(t) for t in (start.video, start.audio) if t is not None))


async def play_feed(urls: Sequence[str], *, config: PlayerConfig | None = None, feed: FeedConfig | None = None,
                    options: ConnectOptions | None = None,
                    hints: Sequence[StartHint | None] | None = None) -> FeedReport:
    """Play ``urls`` in order, each to ``config.watch_s`` (the swipe) or its end, over one connection.
    ``hints``: each video's prefetch hint from its feed card (None where a card had none)."""
    if not urls:
        raise PlaybackError("the feed is empty")
    for url in urls:
        check_https_url(url)
    config = config or PlayerConfig()
    feed = feed or FeedConfig()
    estimator = ThroughputEstimator(default_bps=config.start_bitrate)
    start = time.perf_counter()
    sessions: list[SessionReport] = []
    swipes: list[float] = []
    wasted = 0
    async with Fetcher.open(options) as fetcher:
        fetcher.estimator = estimator  # one estimate for the whole feed: video 2 starts where video 1 left off
        by_url = {u: h for u, h in zip(urls, hints or (), strict=False) if h is not None}
        prefetcher = Prefetcher(fetcher, estimator, config, feed, by_url)
        try:
            for i, url in enumerate(urls):
                swipes.append(time.perf_counter())
                session = PlaybackSession(url, fetcher, estimator, config, start=prefetcher.take(url))
                if feed.prefetch and feed.prefetch_depth:
                    prefetcher.retarget(urls[i + 1:i + 1 + feed.prefetch_depth])
                sessions.append(await session.run())
                # Whatever was prefetched for this video and not played is dead weight now.
                here = _video_dir(url)
                wasted += fetcher.evict(lambda u, here=here: not u.startswith(here))
        finally:
            prefetcher.cancel()
    return FeedReport(sessions, time.perf_counter() - start, prefetcher.bytes, wasted, dict(prefetcher.errors),
                      list(fetcher.log), swipes)
