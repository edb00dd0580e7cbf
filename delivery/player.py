"""An HLS player over HTTP/3: master -> playable variants -> ABR -> media playlists -> init and segments.

Two entry points:

- :func:`play_startup` measures only what a viewer feels at the tap: the time until the first segments of
  video and audio are in hand (``reelflow play URL``, the demo).
- :func:`play_session` plays a video through a :class:`~delivery.playback.PlaybackClock` with a forward
  buffer, choosing each video segment's rung with :class:`~delivery.abr.AbrController`; audio loads in
  parallel. It runs to the end or to a watch limit (short-video viewers swipe) and reports startup,
  rebuffering, mean bitrate, switches, bytes and a per-segment log. :mod:`delivery.feed` runs sessions
  one after another over one connection, with prefetch.

The player declares the codecs it decodes; a variant whose CODECS names anything else is skipped, and
among what is left it keeps one video codec family (switching codecs mid-stream needs a decoder reset).

Playback time can be scaled (``speed``): see :mod:`delivery.playback` for what that does to rebuffering,
and :mod:`delivery.abr` for how the ABR accounts for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import m3u8

from delivery.abr import AbrConfig, AbrController, ThroughputEstimator
from delivery.fetch import ConnectOptions, Fetched, Fetcher, PlaybackError, check_https_url
from delivery.h3client import H3Client, h3_connect
from delivery.playback import PlaybackClock

__all__ = ["PlaybackError", "PlayerConfig", "SessionReport", "StartupReport", "choose_variant", "play_session",
           "play_startup", "playable_variants"]

# RFC 6381 sample-entry codes this player declares it can decode, by default.
SUPPORTED_CODECS = frozenset({"avc1", "avc3", "hvc1", "hev1", "av01", "mp4a"})
CODEC_FAMILY = {"avc1": "avc", "avc3": "avc", "hvc1": "hevc", "hev1": "hevc", "av01": "av1", "vp09": "vp9",
                "mp4a": "aac", "ac-3": "ac3", "ec-3": "eac3", "opus": "opus"}
AUDIO_CODES = frozenset({"mp4a", "ac-3", "ec-3", "opus", "flac"})
# H.264 first: every device decodes it in hardware; a player on hardware with AV1 decode would put av1 first.
VIDEO_PREFERENCE = ("avc", "hevc", "av1")


# -- variant selection -----------------------------------------------------------------------------


def codec_codes(codecs: str | None) -> list[str]:
    """``"avc1.64001F,mp4a.40.2"`` -> ``["avc1", "mp4a"]``."""
    return [c.strip().split(".", 1)[0].lower() for c in (codecs or "").split(",") if c.strip()]


def _video_family(codecs: str | None) -> str:
    video = [c for c in codec_codes(codecs) if c not in AUDIO_CODES]
    return CODEC_FAMILY.get(video[0], video[0]) if video else "unknown"


def playable_variants(master: m3u8.M3U8, supported: Iterable[str] = SUPPORTED_CODECS,
                      preference: Sequence[str] = VIDEO_PREFERENCE) -> list[m3u8.Playlist]:
    """The variants of one video codec family that the player decodes, by ascending BANDWIDTH.

    A variant whose CODECS lists anything outside ``supported`` is skipped; a variant without CODECS is
    kept (RFC 8216 says SHOULD, and players assume the common case). Raises :class:`PlaybackError` when
    nothing is left, naming what the master offered.
    """
    if not master.playlists:
        raise PlaybackError("master playlist lists no variants")
    supported = {s.lower() for s in supported}
    ok = [p for p in master.playlists if set(codec_codes(p.stream_info.codecs)) <= supported]
    if not ok:
        offered = sorted({p.stream_info.codecs or "?" for p in master.playlists})
        raise PlaybackError(f"no playable variant: the master offers CODECS {', '.join(offered)}; this player "
                            f"decodes {', '.join(sorted(supported))}")
    families = {_video_family(p.stream_info.codecs) for p in ok}
    family = next((f for f in preference if f in families), sorted(families)[0])
    chosen = [p for p in ok if _video_family(p.stream_info.codecs) == family]
    return sorted(chosen, key=lambda p: p.stream_info.bandwidth or 0)


def choose_variant(master: m3u8.M3U8, start_bitrate: int, supported: Iterable[str] = SUPPORTED_CODECS
                   ) -> m3u8.Playlist:
    """The richest playable variant whose BANDWIDTH fits ``start_bitrate``, else the leanest one."""
    ordered = playable_variants(master, supported)
    fitting = [p for p in ordered if p.stream_info.bandwidth <= start_bitrate]
    return fitting[-1] if fitting else ordered[0]


def parse_master(body: bytes, url: str) -> m3u8.M3U8:
    try:
        master = m3u8.loads(body.decode(), uri=url)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PlaybackError(f"{url} is not a playlist: {exc}") from None
    if not master.is_variant:
        what = "a media playlist" if master.segments else "not a playlist"
        raise PlaybackError(f"{url} is {what}, not a master playlist")
    return master


def audio_rendition_uri(master: m3u8.M3U8, variant: m3u8.Playlist) -> str | None:
    """The URI of the variant's audio group rendition (DEFAULT=YES first), or None for muxed/no audio."""
    group = variant.stream_info.audio
    if not group:
        return None
    candidates = [m for m in master.media if m.type == "AUDIO" and m.group_id == group and m.uri]
    candidates.sort(key=lambda m: (m.default or "").upper() != "YES")
    return candidates[0].uri if candidates else None


# -- media playlists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaTrack:
    kind: str  # "video" | "audio"
    playlist_url: str
    init_url: str | None
    segments: tuple[tuple[str, float], ...]  # (absolute URL, duration in seconds)

    @property
    def duration_s(self) -> float:
        return sum(d for _, d in self.segments)


async def load_track(fetcher: Fetcher, url: str, kind: str, *, foreground: bool = True) -> MediaTrack:
    body = (await fetcher.get(url, foreground=foreground)).body
    try:
        media = m3u8.loads(body.decode(), uri=url)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PlaybackError(f"{url} is not a playlist: {exc}") from None
    if media.is_variant:
        raise PlaybackError(f"{url} is a master playlist where a media playlist was expected")
    if not media.segments:
        raise PlaybackError(f"{url} lists no segments")
    segments = []
    for seg in media.segments:
        if seg.duration is None or not seg.duration > 0 or not math.isfinite(seg.duration):
            raise PlaybackError(f"{url}: segment {seg.uri} has no positive duration")
        segments.append((urljoin(url, seg.uri), float(seg.duration)))
    init = urljoin(url, media.segment_map[0].uri) if media.segment_map else None
    return MediaTrack(kind, url, init, tuple(segments))


# -- the start of a video (shared by playback and prefetch) ----------------------------------------


@dataclass(frozen=True)
class PlayerConfig:
    supported_codecs: frozenset[str] = SUPPORTED_CODECS
    codec_preference: tuple[str, ...] = VIDEO_PREFERENCE
    watch_s: float | None = None  # media seconds the viewer watches before swiping; None: to the end
    speed: float = 1.0  # media seconds per wall second
    max_buffer_s: float = 8.0  # forward buffer; short-video players keep it small, swipes waste the rest
    abr: AbrConfig = field(default_factory=AbrConfig)
    start_bitrate: float = 1_000_000  # the throughput guess before anything has been measured

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.watch_s is not None and self.watch_s <= 0:
            raise ValueError("watch time must be positive")
        if self.max_buffer_s <= 0:
            raise ValueError("max buffer must be positive")


@dataclass
class VideoStart:
    """What a player needs to start one video: its playable variants, the start rung and its tracks."""

    url: str
    variants: list[m3u8.Playlist]
    index: int
    video: MediaTrack
    audio: MediaTrack | None

    def variant_url(self, index: int) -> str:
        return urljoin(self.url, self.variants[index].uri)


async def open_video(url: str, fetcher: Fetcher, estimator: ThroughputEstimator, config: PlayerConfig, *,
                     foreground: bool = True, start_index: int | None = None,
                     start_url: str | None = None) -> VideoStart:
    """Master -> playable variants -> start rung (ABR on the current estimate) -> media playlists.
    ``start_url``: start on the variant with this media playlist URL (a prefetch hint's), if it is one."""
    check_https_url(url)
    master = parse_master((await fetcher.get(url, foreground=foreground)).body, url)
    variants = playable_variants(master, config.supported_codecs, config.codec_preference)
    if start_url is not None:
        start_index = next((i for i, v in enumerate(variants) if urljoin(url, v.uri) == start_url), start_index)
    if start_index is None or not 0 <= start_index < len(variants):
        abr = AbrController([v.stream_info.bandwidth or 0 for v in variants], estimator, config.abr)
        start_index = abr.choose(0.0, 0.0, media_rate=config.speed).index
    video_url = urljoin(url, variants[start_index].uri)
    audio_uri = audio_rendition_uri(master, variants[start_index])
    jobs = [load_track(fetcher, video_url, "video", foreground=foreground)]
    if audio_uri:
        jobs.append(load_track(fetcher, urljoin(url, audio_uri), "audio", foreground=foreground))
    tracks = await asyncio.gather(*jobs)
    return VideoStart(url, variants, start_index, tracks[0], tracks[1] if len(tracks) > 1 else None)


# -- a playback session ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRecord:
    track: str  # "video" | "audio"
    index: int
    start_s: float  # media time where the segment starts
    rung: int  # index into the playable variants (ascending BANDWIDTH); -1 for audio
    bandwidth: int  # the rung's declared BANDWIDTH (0 for audio)
    duration_s: float
    bytes: int
    seconds: float  # download wall time (0 from the prefetch cache)
    source: str  # "network", "prefetch", "joined"
    buffer_s: float  # media seconds buffered when the request was issued
    at_s: float  # wall seconds from the session start until it arrived
    reason: str  # the ABR's reason for this rung ("start", "hold", "up", "down", "absorb"; "" for audio)


@dataclass
class SessionReport:
    url: str
    rungs: list[str]  # "WxH @ Mb/s" per playable rung, ascending
    codecs: str
    startup_s: float | None  # tap/swipe -> first segment of video and audio in hand
    rebuffer_count: int
    rebuffer_s: float
    rebuffer_ratio: float
    played_s: float  # media seconds played
    mean_bitrate_bps: float  # declared BANDWIDTH of the rungs fetched, weighted by segment duration
    media_bitrate_bps: float  # measured: video segment bytes over their duration
    switches: int
    bytes: int
    unplayed_bytes: int  # segments fetched that start past where the viewer stopped (a swipe's waste)
    prefetch: str  # how the start was served: "full" (all from the prefetch cache), "partial", "none"
    ended: str  # "end" or "watch limit"
    wall_s: float
    speed: float
    segments: list[SegmentRecord] = field(default_factory=list)

    @property
    def video_rungs(self) -> list[int]:
        return [s.rung for s in self.segments if s.track == "video"]

    def summary(self) -> str:
        startup = "never" if self.startup_s is None else _ms(self.startup_s)
        speed = f" (speed x{self.speed:g})" if self.speed != 1 else ""
        return (f"startup {startup} [{self.prefetch} prefetch]; played {self.played_s:.1f} s to {self.ended}"
                f"{speed}; rebuffers {self.rebuffer_count} ({self.rebuffer_s * 1000:.0f} ms, ratio "
                f"{self.rebuffer_ratio:.1%}); mean bitrate {self.mean_bitrate_bps / 1e6:.2f} Mb/s declared, "
                f"{self.media_bitrate_bps / 1e6:.2f} Mb/s media; {self.switches} switches; "
                f"{self.bytes / 1024:.0f} KiB, {self.unplayed_bytes / 1024:.0f} KiB of it not played")

    def segment_lines(self) -> list[str]:
        out = []
        for s in self.segments:
            rung = f"rung {s.rung} {s.bandwidth / 1e6:5.2f} Mb/s {s.reason:6}" if s.track == "video" else " " * 30
            out.append(f"  {s.at_s * 1000:8.1f} ms  {s.track:5} #{s.index:<3} {rung} {s.bytes:8d} B "
                       f"{s.seconds * 1000:7.1f} ms {s.source:8} buffer {s.buffer_s:5.2f} s")
        return out


class PlaybackSession:
    """One video from tap (or swipe) to the end or the watch limit, over a shared :class:`Fetcher`."""

    def __init__(self, url: str, fetcher: Fetcher, estimator: ThroughputEstimator, config: PlayerConfig, *,
                 start: VideoStart | None = None) -> None:
        self.url = url
        self.fetcher = fetcher
        self.estimator = estimator
        self.config = config
        self._start = start  # prefetched: its playlists are known and its first segments are cached
        self._prefetched_start = start is not None
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self.clock = PlaybackClock(self._t0, speed=config.speed, stop_at_s=config.watch_s or math.inf)
        self._ends: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._records: list[SegmentRecord] = []
        # This session's requests are the foreground entries of the fetcher's log from here on (one
        # session plays at a time; prefetches log as background).
        self._log_from = len(fetcher.log)
        self._log_at_first_frame: int | None = None
        self._holding = False

    def _now(self) -> float:
        return self._loop.time()

    async def _with_init(self, track: MediaTrack, url: str, need_init: bool) -> Fetched:
        """A segment, with the track's init segment requested alongside when it is not loaded yet.

        In parallel, not init-then-segment: over 50 ms of RTT the sequential order costs a round trip
        at every start and switch.
        """
        if not need_init or not track.init_url:
            return await self.fetcher.get(url)
        _, fetched = await asyncio.gather(self.fetcher.get(track.init_url), self.fetcher.get(url))
        return fetched

    async def run(self) -> SessionReport:
        # Hold the link from the tap until the first frame, so no prefetch slips in between requests.
        self.fetcher.hold()
        self._holding = True
        try:
            return await self._run()
        finally:
            self._release_startup_hold()

    def _release_startup_hold(self) -> None:
        if self._holding:
            self._holding = False
            self.fetcher.release()

    async def _run(self) -> SessionReport:
        cfg = self.config
        if self._start is None:
            self._start = await open_video(self.url, self.fetcher, self.estimator, cfg)
        start = self._start
        tracks = [start.video] + ([start.audio] if start.audio else [])
        duration = min(t.duration_s for t in tracks)
        self.clock.set_stop(min(cfg.watch_s or math.inf, duration), self._now())
        self._ends = {t.kind: 0.0 for t in tracks}
        loops = [asyncio.ensure_future(self._video_loop(start))]
        if start.audio:
            loops.append(asyncio.ensure_future(self._audio_loop(start.audio)))
        for task in loops:
            task.add_done_callback(lambda _t: self._changed.set())
        try:
            await self._play_out(loops)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        return self._report(start)

    async def _play_out(self, loops: list[asyncio.Task[None]]) -> None:
        """Wait until the clock reaches the stop point, waking when content arrives or a loop ends."""
        while not self.clock.finished:
            failed = next((t for t in loops if t.done() and not t.cancelled() and t.exception()), None)
            if failed is not None:
                raise failed.exception()  # type: ignore[misc]
            if all(t.done() for t in loops) and not self.clock.finished:
                # Everything is in hand yet the clock cannot reach the stop point (tracks of unequal
                # length): end where the content ends.
                now = self._now()
                if not self.clock.started or self.clock.stalled:
                    self.clock.set_stop(self.clock.buffered_end_s, now)
                    break
            self._changed.clear()
            delay = self.clock.wall_until_stop(self._now())
            await _wait(self._changed, delay)

    async def _wait_for_room(self, kind: str, duration_s: float) -> None:
        """Hold the next request of a track until the forward buffer has room for one more segment."""
        while True:
            now = self._now()
            excess = self._ends[kind] + duration_s - self.clock.position(now) - self.config.max_buffer_s
            if excess <= 0 or not self.clock.started:
                return
            playing = self.clock.started and not self.clock.stalled and not self.clock.finished
            self._changed.clear()
            await _wait(self._changed, excess / self.config.speed if playing else math.inf)

    def _arrived(self, kind: str, duration_s: float) -> None:
        self._ends[kind] += duration_s
        started = self.clock.started
        self.clock.extend(min(self._ends.values()), self._now())
        if self.clock.started and not started:
            self._log_at_first_frame = len(self.fetcher.log)
            self._release_startup_hold()
        self._changed.set()

    async def _video_loop(self, start: VideoStart) -> None:
        bandwidths = [v.stream_info.bandwidth or 0 for v in start.variants]
        abr = AbrController(bandwidths, self.estimator, self.config.abr)
        abr.start_at(start.index)
        tracks: dict[int, MediaTrack] = {start.index: start.video}
        inits: set[int] = set()
        rung, reason = start.index, "start"
        for i in range(len(start.video.segments)):
            duration = start.video.segments[i][1]
            await self._wait_for_room("video", duration)
            async with self.fetcher.busy():
                buffer_s = self.clock.buffer_s(self._now())
                if i > 0:
                    decision = abr.choose(buffer_s, duration, media_rate=self.config.speed)
                    rung, reason = decision.index, decision.reason
                if rung not in tracks:  # a switch: this rung's playlist first (segments align by index)
                    tracks[rung] = await load_track(self.fetcher, start.variant_url(rung), "video")
                track = tracks[rung]
                if i >= len(track.segments):
                    return
                url, duration = track.segments[i]
                fetched = await self._with_init(track, url, rung not in inits)
                inits.add(rung)
                self._records.append(SegmentRecord(
                    "video", i, self._ends["video"], rung, bandwidths[rung], duration, len(fetched.body),
                    fetched.seconds, fetched.source, buffer_s, self._now() - self._t0, reason))
                self._arrived("video", duration)

    async def _audio_loop(self, track: MediaTrack) -> None:
        first = True
        for i, (url, duration) in enumerate(track.segments):
            await self._wait_for_room("audio", duration)
            async with self.fetcher.busy():
                buffer_s = self.clock.buffer_s(self._now())
                fetched = await self._with_init(track, url, first)
                first = False
                self._records.append(SegmentRecord(
                    "audio", i, self._ends["audio"], -1, 0, duration, len(fetched.body), fetched.seconds,
                    fetched.source, buffer_s, self._now() - self._t0, ""))
                self._arrived("audio", duration)

    def _report(self, start: VideoStart) -> SessionReport:
        now = self._now()
        stats = self.clock.stats(now)
        video = [s for s in self._records if s.track == "video"]
        dur = sum(s.duration_s for s in video)
        rungs = [s.rung for s in video]
        mine = [r for r in self.fetcher.log[self._log_from:] if r.foreground]
        before_start = [r for r in self.fetcher.log[self._log_from:self._log_at_first_frame or len(self.fetcher.log)]
                        if r.foreground]
        sources = {r.source for r in before_start} | ({"prefetch"} if self._prefetched_start else set())
        prefetch = "full" if sources == {"prefetch"} else "none" if sources <= {"network"} else "partial"
        watch = self.config.watch_s
        ended = "watch limit" if watch is not None and stats.position_s >= watch - 1e-9 else "end"
        return SessionReport(
            url=self.url,
            rungs=[_describe(v) for v in start.variants],
            codecs=start.variants[start.index].stream_info.codecs or "",
            startup_s=stats.startup_s, rebuffer_count=stats.rebuffer_count, rebuffer_s=stats.rebuffer_s,
            rebuffer_ratio=stats.rebuffer_ratio, played_s=stats.position_s,
            mean_bitrate_bps=sum(s.bandwidth * s.duration_s for s in video) / dur if dur else 0.0,
            media_bitrate_bps=sum(s.bytes * 8 for s in video) / dur if dur else 0.0,
            switches=sum(1 for a, b in zip(rungs, rungs[1:], strict=False) if a != b),
            bytes=sum(r.bytes for r in mine),
            unplayed_bytes=sum(s.bytes for s in self._records if s.start_s >= stats.position_s - 1e-9),
            prefetch=prefetch, ended=ended, wall_s=now - self._t0,
            speed=self.config.speed,
            segments=sorted(self._records, key=lambda s: s.at_s),
        )


def _ms(seconds: float) -> str:
    """Milliseconds, with a decimal where whole milliseconds would round a cached start to 0."""
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def _describe(variant: m3u8.Playlist) -> str:
    info = variant.stream_info
    size = "x".join(map(str, info.resolution)) if info.resolution else "?"
    return f"{size} @ {(info.bandwidth or 0) / 1e6:.2f} Mb/s"


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` or ``timeout_s`` (inf: no timeout), whichever comes first."""
    if timeout_s <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), None if math.isinf(timeout_s) else timeout_s)


async def play_session(url: str, *, config: PlayerConfig | None = None, options: ConnectOptions | None = None,
                       fetcher: Fetcher | None = None, estimator: ThroughputEstimator | None = None
                       ) -> SessionReport:
    """Play one video (to its end or ``config.watch_s``) over HTTP/3 and report how it went."""
    config = config or PlayerConfig()
    check_https_url(url)
    estimator = estimator or ThroughputEstimator(default_bps=config.start_bitrate)
    if fetcher is not None:
        return await PlaybackSession(url, fetcher, estimator, config).run()
    async with Fetcher.open(options) as own:
        own.estimator = estimator
        return await PlaybackSession(url, own, estimator, config).run()


# -- the start-up probe (``reelflow play URL``) -------------------------------------------------------


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
                       verify: bool = True, supported: Iterable[str] = SUPPORTED_CODECS,
                       address: tuple[str, int] | None = None) -> StartupReport:
    """Master, a variant by ``start_bitrate``, init and first ``segments`` of video and audio; no playback."""
    start = time.perf_counter()
    log: list[tuple[str, int, float]] = []
    async with h3_connect(url, cafile=cafile, verify=verify, address=address) as client:
        master = parse_master(await _fetch(client, url, log), url)
        variant = choose_variant(master, start_bitrate, supported)
        video_url = urljoin(url, variant.uri)
        jobs = [_media_start(client, video_url, segments, log)]
        audio = audio_rendition_uri(master, variant)
        if audio is not None:
            jobs.append(_media_start(client, urljoin(url, audio), segments, log))
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
