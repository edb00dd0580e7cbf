"""A lean asyncio Redis client for the feed's hot commands: one connection, every request pipelined on it.

Profiling a For You page showed redis-py's asyncio client spending more CPU per command than the page's
ranking (pool checkout under a condition variable, retry wrapper, stream reader, response callbacks).
RESP replies arrive in request order, so one connection carries any number of concurrent requests: a
request is written at once and its future queued; the protocol feeds bytes to hiredis's C parser and
resolves futures in order. No pool, no lock, no task per request.

Failures look like redis-py's (the ``redis.exceptions`` classes), so callers keep one error model: a
refused or lost connection is ``ConnectionError``, a reply that does not come within ``timeout_s`` is
``TimeoutError`` (the connection is dropped, since every request queued behind it would wait too), an
error reply is ``ResponseError`` (``NoScriptError`` for NOSCRIPT). The next request reconnects.
"""

from __future__ import annotations

import asyncio
from collections import deque
from urllib.parse import unquote, urlparse

import hiredis
import redis.exceptions as rex


class _ReplyError(Exception):
    pass


def _error(message: str) -> rex.RedisError:
    if message.startswith("NOSCRIPT"):
        return rex.NoScriptError(message)
    return rex.ResponseError(message)


def _pack(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            b = a.encode()
        elif isinstance(a, bytes):
            b = a
        elif isinstance(a, float):
            b = repr(a).encode()
        else:
            b = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self, lane: RespLane) -> None:
        self.lane = lane
        self.reader = hiredis.Reader(encoding="utf-8", replyError=_ReplyError)
        self.pending: deque[asyncio.Future] = deque()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(rex.ConnectionError(f"protocol error from Redis: {exc}"))
                return
            if reply is False:
                return
            if not self.pending:  # nothing asked for it: the stream is out of step, start over
                self.fail(rex.ConnectionError("unexpected reply from Redis"))
                return
            fut = self.pending.popleft()
            if fut.done():  # timed out or cancelled: its reply is dropped, the order is kept
                continue
            if isinstance(reply, _ReplyError):
                fut.set_exception(_error(str(reply)))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(rex.ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, error: rex.RedisError) -> None:
        if self.lane._proto is self:
            self.lane._proto = None
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():
                fut.set_exception(error)
        if self.transport is not None:
            self.transport.abort()
            self.transport = None


class RespLane:
    """``await lane.execute("GET", key)``; ``get`` and ``evalsha`` mirror redis-py's signatures, so code
    written against redis-py's client (``Live.script``) runs on either."""

    def __init__(self, url: str, *, timeout_s: float = 0.25, connect_timeout_s: float = 0.25) -> None:
        u = urlparse(url)
        if u.scheme not in ("redis", ""):
            raise ValueError(f"RespLane speaks plain redis:// only, not {u.scheme}://")
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 6379
        self.db = int((u.path or "/0").lstrip("/") or 0)
        self.password = unquote(u.password) if u.password else None
        self.username = unquote(u.username) if u.username else None
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future | None = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, proto = await loop.create_connection(lambda: _Protocol(self), self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise rex.ConnectionError(f"cannot connect to Redis at {self.host}:{self.port}: {exc!r}") from exc
        hello = []
        if self.password is not None:
            hello.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            hello.append(("SELECT", self.db))
        for args in hello:
            await self._send(proto, args)
        self._proto = proto
        return proto

    async def _ready(self) -> _Protocol:
        proto = self._proto
        if proto is not None:
            if proto.loop is asyncio.get_running_loop():
                return proto
            # Made on another event loop (a test client's per-call loop): unusable here; a new one.
            self._proto = None
        if self._connecting is not None and self._connecting.get_loop() is not asyncio.get_running_loop():
            self._connecting = None
        if self._connecting is None:  # one connect at a time; the others wait for it
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, fut: asyncio.Future) -> None:
        self._connecting = None
        if not fut.cancelled():
            fut.exception()  # retrieved: the waiters raise it

    def _send(self, proto: _Protocol, args: tuple) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if proto.transport is None:
            fut.set_exception(rex.ConnectionError("connection to Redis lost"))
            return fut
        proto.pending.append(fut)
        proto.transport.write(_pack(args))
        timer = loop.call_later(self.timeout_s, self._expire, proto, fut)
        fut.add_done_callback(lambda _: timer.cancel())
        return fut

    def _expire(self, proto: _Protocol, fut: asyncio.Future, second_look: bool = False) -> None:
        if fut.done():
            return
        if not second_look:
            # The loop runs timers before it polls sockets: when this process is busy, the timer comes due
            # while the reply already waits in the socket. Look again after the next poll, so an overloaded
            # API is not taken for a Redis outage (which would send every page to PostgreSQL: collapse).
            asyncio.get_running_loop().call_later(0.001, self._expire, proto, fut, True)
            return
        fut.set_exception(rex.TimeoutError(f"no reply from Redis in {self.timeout_s:.2f} s"))
        proto.fail(rex.TimeoutError("Redis stopped answering; connection dropped"))

    async def execute(self, *args: object) -> object:
        proto = await self._ready()
        return await self._send(proto, args)

    async def get(self, key: str) -> object:
        return await self.execute("GET", key)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: object) -> object:
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args)

    async def script_load(self, source: str) -> object:
        return await self.execute("SCRIPT", "LOAD", source)

    async def aclose(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
