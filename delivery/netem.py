"""Network emulation in user space: a UDP relay that delays, drops and rate-limits datagrams.

This kernel has no ``tc netem``, so the player reaches the edge through a relay instead::

    player (QUIC) --UDP--> relay :listen --[uplink scheduler]--> edge
    player <------UDP----- relay <--------[downlink scheduler]-- edge

:class:`LinkScheduler` is the sans-I/O core for one direction: given a datagram's size and arrival
time it answers when the datagram leaves the far end, or that it is lost. In order:

1. random loss (seeded, so a test sees the same drops every run), like ``netem loss``;
2. a token bucket (``rate_bytes_s``, ``burst_bytes``) feeding a FIFO of at most ``queue_bytes``:
   a datagram that would overflow the queue is tail-dropped, as a router's buffer does;
3. one-way delay (half the RTT) plus optional uniform jitter; ``keep_order`` stops jitter from
   reordering datagrams (netem reorders; most real paths rarely do).

:class:`UdpRelay` is the asyncio glue: one listening socket for the player, one upstream socket per
player address (so the edge sees distinct clients), and ``loop.call_at`` to release each datagram.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinkConfig:
    delay_s: float = 0.0  # one way
    jitter_s: float = 0.0  # uniform in [-jitter, +jitter], added to the delay (never below zero)
    loss: float = 0.0  # probability that a datagram is dropped
    rate_bytes_s: float | None = None  # None: no rate limit
    burst_bytes: int | None = None  # token bucket depth; default: 10 ms of rate, at least 2 datagrams
    queue_bytes: int | None = None  # FIFO limit behind the bucket; default: 100 ms of rate, at least 30 KB
    keep_order: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.delay_s < 0 or self.jitter_s < 0:
            raise ValueError("delay and jitter must not be negative")
        if not 0 <= self.loss < 1:
            raise ValueError("loss must be in [0, 1)")
        if self.rate_bytes_s is not None and self.rate_bytes_s <= 0:
            raise ValueError("rate must be positive")

    @classmethod
    def from_path(cls, *, rtt_ms: float = 0.0, loss: float = 0.0, rate_kbps: float | None = None,
                  jitter_ms: float = 0.0, seed: int = 0) -> LinkConfig:
        """One direction of a symmetric path given as round-trip time, loss and rate in kbit/s."""
        return cls(delay_s=rtt_ms / 2000, jitter_s=jitter_ms / 1000, loss=loss,
                   rate_bytes_s=rate_kbps * 1000 / 8 if rate_kbps else None, seed=seed)


@dataclass
class LinkStats:
    offered: int = 0
    delivered: int = 0
    lost: int = 0  # random loss
    overflowed: int = 0  # tail drop at the rate limiter's queue
    bytes_delivered: int = 0


class LinkScheduler:
    """One direction of an emulated link: :meth:`offer` says when a datagram arrives, or None if dropped."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self.stats = LinkStats()
        self._rng = random.Random(config.seed)
        rate = config.rate_bytes_s
        self._burst = float(config.burst_bytes or (max(2 * 1500, rate * 0.01) if rate else 0))
        self._queue_limit = config.queue_bytes or (max(30_000, int(rate * 0.1)) if rate else 0)
        self._tokens = self._burst
        self._last_departure = -math.inf  # when the previous datagram left the bucket
        self._queued: deque[tuple[float, int]] = deque()  # (departure, size) still waiting in the FIFO
        self._queued_bytes = 0
        self._last_arrival = -math.inf

    def queued_bytes(self, now: float) -> int:
        while self._queued and self._queued[0][0] <= now:
            self._queued_bytes -= self._queued.popleft()[1]
        return self._queued_bytes

    def offer(self, size: int, now: float) -> float | None:
        c = self.config
        self.stats.offered += 1
        if c.loss and self._rng.random() < c.loss:
            self.stats.lost += 1
            return None
        departure = now
        if c.rate_bytes_s:
            if self.queued_bytes(now) + size > self._queue_limit:
                self.stats.overflowed += 1
                return None
            # FIFO behind the bucket: start when the previous datagram has left, then wait for tokens.
            start = max(now, self._last_departure)
            tokens = self._tokens if math.isinf(self._last_departure) else min(
                self._burst, self._tokens + (start - self._last_departure) * c.rate_bytes_s)
            departure = start if tokens >= size else start + (size - tokens) / c.rate_bytes_s
            self._tokens = max(tokens, size) - size
            self._last_departure = departure
            if departure > now:
                self._queued.append((departure, size))
                self._queued_bytes += size
        arrival = departure + c.delay_s
        if c.jitter_s:
            arrival = max(departure, arrival + self._rng.uniform(-c.jitter_s, c.jitter_s))
        if c.keep_order:
            arrival = max(arrival, self._last_arrival)
        self._last_arrival = max(self._last_arrival, arrival)
        self.stats.delivered += 1
        self.stats.bytes_delivered += size
        return arrival


@dataclass
class RelayStats:
    uplink: LinkStats = field(default_factory=LinkStats)
    downlink: LinkStats = field(default_factory=LinkStats)
    clients: int = 0


class _Upstream(asyncio.DatagramProtocol):
    """The relay's socket towards the edge for one player address."""

    def __init__(self, relay: UdpRelay, client: tuple) -> None:
        self.relay, self.client = relay, client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.relay._schedule(self.relay.downlink, data, lambda d: self.relay._send_to_client(d, self.client))


class UdpRelay(asyncio.DatagramProtocol):
    """Listens on ``listen`` and forwards to ``target`` through an uplink and a downlink scheduler."""

    def __init__(self, target: tuple[str, int], uplink: LinkConfig, downlink: LinkConfig) -> None:
        self.target = target
        self.uplink = LinkScheduler(uplink)
        self.downlink = LinkScheduler(downlink)
        self.transport: asyncio.DatagramTransport | None = None
        self._upstreams: dict[tuple, _Upstream] = {}
        self._pending: dict[tuple, list[bytes]] = {}  # datagrams waiting for their upstream socket
        self._handles: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.clients = 0

    @property
    def address(self) -> tuple[str, int]:
        """Where players dial: (host, port) of the listening socket."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def stats(self) -> RelayStats:
        return RelayStats(self.uplink.stats, self.downlink.stats, self.clients)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        up = self._upstreams.get(addr)
        if up is None:
            self._pending.setdefault(addr, []).append(data)
            if len(self._pending[addr]) == 1:
                task = asyncio.ensure_future(self._open_upstream(addr))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        self._schedule(self.uplink, data, lambda d: up.transport.sendto(d) if up.transport else None)

    async def _open_upstream(self, client: tuple) -> None:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(lambda: _Upstream(self, client), remote_addr=self.target)
        self._upstreams[client] = proto
        self.clients += 1
        for data in self._pending.pop(client, []):
            self._schedule(self.uplink, data, lambda d: proto.transport.sendto(d) if proto.transport else None)

    def _send_to_client(self, data: bytes, client: tuple) -> None:
        if self.transport is not None:
            self.transport.sendto(data, client)

    def _schedule(self, link: LinkScheduler, data: bytes, send) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = link.offer(len(data), now)
        if at is None:
            return
        if at <= now:
            send(data)
            return
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._handles.discard(handle)
            send(data)

        handle = loop.call_at(at, fire)
        self._handles.add(handle)

    def close(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
        for task in self._tasks:
            task.cancel()
        for up in self._upstreams.values():
            if up.transport is not None:
                up.transport.close()
        if self.transport is not None:
            self.transport.close()


async def resolve_udp(host: str, port: int) -> tuple[str, int]:
    """The first UDP address for ``host`` (what aioquic would dial), as (ip, port)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"cannot resolve {host}")
    addr = infos[0][4]
    return str(addr[0]), int(addr[1])


@asynccontextmanager
async def start_relay(target: tuple[str, int], *, uplink: LinkConfig | None = None,
                      downlink: LinkConfig | None = None, listen_host: str | None = None,
                      listen_port: int = 0) -> AsyncIterator[UdpRelay]:
    """Run a relay to ``target`` (host, port) for the duration of the block; ``relay.port`` is where to dial.

    It listens on the loopback address of the target's family unless ``listen_host`` is given.
    """
    ip, port = await resolve_udp(*target)
    host = listen_host or ("::1" if ":" in ip else "127.0.0.1")
    relay = UdpRelay((ip, port), uplink or LinkConfig(), downlink or LinkConfig())
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: relay, local_addr=(host, listen_port))
    try:
        yield relay
    finally:
        relay.close()
