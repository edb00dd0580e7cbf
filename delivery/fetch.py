"""The player's HTTP/3 fetch layer: one QUIC connection per authority, a prefetch cache, foreground first.

- **One connection**: a feed's videos all come from one edge, so every request of the feed (current video
  and prefetches) shares one QUIC connection: no handshake per video, one congestion controller.
- **Prefetch cache**: a prefetch stores what it fetched; the playback that later asks for the same URL
  takes it from the cache (and removes it). A request already in flight is joined, not repeated, so a
  swipe during a prefetch picks up the bytes that are on their way.
- **Priority**: HTTP/3 priorities (RFC 9218) are only hints and the edge schedules streams in order, so
  priority is enforced here: playback holds :meth:`Fetcher.busy` while it needs data, and prefetches wait
  in :meth:`Fetcher.wait_idle` until no playback does.
- **Abort**: a playback request that is cancelled (swipe, timeout) stops its stream (STOP_SENDING), so an
  abandoned segment does not keep the link busy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from delivery.abr import ThroughputEstimator
from delivery.h3client import H3Client, h3_connect


class PlaybackError(RuntimeError):
    """Playback cannot go on: a bad URL, an HTTP error, a playlist the player cannot use."""


@dataclass(frozen=True)
class ConnectOptions:
    cafile: str | None = None
    verify: bool = True
    # Dial another address for an authority ("localhost:8443" -> relay (host, port)); TLS and :authority
    # stay those of the URL, so a network-emulating relay is transparent.
    via: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 20.0
    idle_timeout_s: float = 30.0


@dataclass(frozen=True)
class Fetched:
    url: str
    body: bytes
    seconds: float  # wall time this caller waited (0 for a cache hit)
    source: str  # "network", "prefetch" (from the cache) or "joined" (a prefetch already in flight)


@dataclass(frozen=True)
class RequestRecord:
    path: str
    bytes: int
    seconds: float
    source: str
    foreground: bool
    finished_at: float  # time.perf_counter() when the body was in hand


def check_https_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise PlaybackError(f"the player needs an https:// URL (HTTP/3), got {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise PlaybackError(f"bad port in {url!r}") from None


class Fetcher:
    """GETs for one player: pooled HTTP/3 connections, a prefetch cache and a foreground gate."""

    def __init__(self, stack: AsyncExitStack, options: ConnectOptions) -> None:
        self._stack = stack
        self.options = options
        self.estimator: ThroughputEstimator | None = None  # fed with every network download
        self.cache: dict[str, bytes] = {}
        self.log: list[RequestRecord] = []
        self._clients: dict[str, H3Client] = {}
        self._connecting: dict[str, asyncio.Lock] = {}
        self._inflight: dict[str, asyncio.Task[tuple[bytes, float]]] = {}
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    @asynccontextmanager
    async def open(cls, options: ConnectOptions | None = None) -> AsyncIterator[Fetcher]:
        async with AsyncExitStack() as stack:
            fetcher = cls(stack, options or ConnectOptions())
            try:
                yield fetcher
            finally:
                for task in list(fetcher._inflight.values()):
                    task.cancel()
                await asyncio.gather(*fetcher._inflight.values(), return_exceptions=True)

    # -- connections -------------------------------------------------------------------------------

    async def client_for(self, url: str) -> H3Client:
        check_https_url(url)
        authority = urlsplit(url).netloc
        client = self._clients.get(authority)
        if client is not None:
            return client
        lock = self._connecting.setdefault(authority, asyncio.Lock())
        async with lock:
            if authority not in self._clients:
                o = self.options
                cm = h3_connect(url, cafile=o.cafile, verify=o.verify, idle_timeout_s=o.idle_timeout_s,
                                address=o.via.get(authority), connect_timeout_s=o.connect_timeout_s)
                try:
                    self._clients[authority] = await self._stack.enter_async_context(cm)
                except ValueError as exc:
                    raise PlaybackError(str(exc)) from None
                except (TimeoutError, ConnectionError, OSError) as exc:
                    raise PlaybackError(f"cannot open HTTP/3 to {authority}: {exc or type(exc).__name__}") from None
        return self._clients[authority]

    # -- foreground gate ---------------------------------------------------------------------------

    def hold(self) -> None:
        """Playback needs the link (until :meth:`release`); prefetches wait until nobody holds it."""
        self._busy += 1
        self._idle.clear()

    def release(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._idle.set()

    @asynccontextmanager
    async def busy(self) -> AsyncIterator[None]:
        self.hold()
        try:
            yield
        finally:
            self.release()

    async def wait_idle(self) -> None:
        while self._busy:  # re-check: playback may have taken the gate again before this task ran
            await self._idle.wait()

    # -- requests ----------------------------------------------------------------------------------

    @property
    def cached_bytes(self) -> int:
        return sum(len(b) for b in self.cache.values())

    def evict(self, keep: Callable[[str], bool]) -> int:
        """Drop cached objects for which ``keep(url)`` is false; the bytes freed."""
        gone = [u for u in self.cache if not keep(u)]
        return sum(len(self.cache.pop(u)) for u in gone)

    async def get(self, url: str, *, foreground: bool = True) -> Fetched:
        """The body of a 200 answer for ``url``; raises :class:`PlaybackError` for anything else.

        Playback (``foreground``) takes prefetched objects out of the cache; a prefetch leaves what it
        fetched in the cache.
        """
        if url in self.cache:
            body = self.cache.pop(url) if foreground else self.cache[url]
            self._record(url, len(body), 0.0, "prefetch", foreground)
            return Fetched(url, body, 0.0, "prefetch")
        task = self._inflight.get(url)
        joined = task is not None
        if task is None:
            task = asyncio.ensure_future(self._network(url, keep=not foreground))
            self._inflight[url] = task
            task.add_done_callback(lambda t, u=url: self._settled(u, t))
        start = time.perf_counter()
        try:
            body, _ = await asyncio.shield(task)
        except asyncio.CancelledError:
            if foreground and not joined:
                task.cancel()  # nobody else wants it: stop the stream instead of finishing the download
            raise
        if foreground:
            self.cache.pop(url, None)  # a joined prefetch stored it; playback consumes it
        seconds = time.perf_counter() - start
        source = "joined" if joined else "network"
        self._record(url, len(body), seconds, source, foreground)
        return Fetched(url, body, seconds, source)

    def _settled(self, url: str, task: asyncio.Task[tuple[bytes, float]]) -> None:
        if self._inflight.get(url) is task:
            del self._inflight[url]
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned prefetch's error must not be logged as unhandled

    async def _network(self, url: str, *, keep: bool) -> tuple[bytes, float]:
        client = await self.client_for(url)
        start, received = time.perf_counter(), client.received_bytes
        try:
            resp = await client.get(url, timeout_s=self.options.request_timeout_s)
        except TimeoutError:
            raise PlaybackError(f"GET {urlsplit(url).path} timed out after {self.options.request_timeout_s} s") \
                from None
        except ConnectionError as exc:
            raise PlaybackError(f"GET {urlsplit(url).path} failed: {exc}") from None
        seconds = time.perf_counter() - start
        if resp.status != 200:
            raise PlaybackError(f"GET {urlsplit(url).path} answered {resp.status}")
        if self.estimator is not None:
            # The link's throughput, not this stream's: count every byte the connection received while
            # this request was open. Video and audio download side by side; per stream, each would see
            # half the link and the ABR would settle a rung too low.
            self.estimator.sample(client.received_bytes - received, seconds)
        if keep:
            self.cache[url] = resp.body
        return resp.body, seconds

    def _record(self, url: str, size: int, seconds: float, source: str, foreground: bool) -> None:
        self.log.append(RequestRecord(urlsplit(url).path, size, seconds, source, foreground, time.perf_counter()))
