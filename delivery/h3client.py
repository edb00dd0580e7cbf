"""A small HTTP/3 client over aioquic: one QUIC connection, many concurrent GETs."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent

H3_REQUEST_CANCELLED = 0x10C  # RFC 9114, section 8.1


@dataclass(frozen=True)
class H3Response:
    status: int
    headers: dict[str, str]
    body: bytes


class _ClientProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self._pending: dict[int, tuple[asyncio.Future[H3Response], list[tuple[bytes, bytes]], bytearray]] = {}
        self.received_bytes = 0  # response body bytes on all streams, for link-level throughput

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            # Fail the requests in flight now rather than let each one wait for its own timeout.
            reason = event.reason_phrase or f"error {event.error_code}"
            for future, _, _ in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"HTTP/3 connection closed: {reason}"))
            self._pending.clear()
            return
        for h3_event in self.http.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, DataReceived):
            self.received_bytes += len(event.data)
        entry = self._pending.get(getattr(event, "stream_id", -1))
        if entry is None:
            return
        future, headers, body = entry
        if isinstance(event, HeadersReceived):
            headers.extend(event.headers)
        elif isinstance(event, DataReceived):
            body.extend(event.data)
        if getattr(event, "stream_ended", False):
            del self._pending[event.stream_id]
            decoded = {k.decode(): v.decode() for k, v in headers}
            if not future.done():
                future.set_result(H3Response(int(decoded.pop(":status", "0")), decoded, bytes(body)))

    async def request(self, method: str, authority: str, path: str) -> H3Response:
        if self._closed.is_set():
            raise ConnectionError("HTTP/3 connection is closed")
        stream_id = self._quic.get_next_available_stream_id()
        future: asyncio.Future[H3Response] = asyncio.get_running_loop().create_future()
        self._pending[stream_id] = (future, [], bytearray())
        self.http.send_headers(stream_id, [(b":method", method.encode()), (b":scheme", b"https"),
                                           (b":authority", authority.encode()), (b":path", path.encode()),
                                           (b"user-agent", b"reelflow-player")], end_stream=True)
        self.transmit()
        try:
            return await future
        except asyncio.CancelledError:
            # An abandoned request (timeout, swipe) must stop using the link: ask the server to stop
            # sending (STOP_SENDING with H3_REQUEST_CANCELLED) instead of draining the rest of the body.
            if self._pending.pop(stream_id, None) is not None:
                with contextlib.suppress(ValueError):
                    self._quic.stop_stream(stream_id, H3_REQUEST_CANCELLED)
                    self.transmit()
            raise


class H3Client:
    """GETs over one HTTP/3 connection to ``origin`` (``https://host:port``)."""

    def __init__(self, protocol: _ClientProtocol, authority: str) -> None:
        self._protocol = protocol
        self.authority = authority

    @property
    def received_bytes(self) -> int:
        """Body bytes received on this connection so far, over every request."""
        return self._protocol.received_bytes

    async def get(self, path_or_url: str, *, timeout_s: float = 30) -> H3Response:
        parts = urlsplit(path_or_url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return await asyncio.wait_for(self._protocol.request("GET", self.authority, path), timeout_s)


@asynccontextmanager
async def h3_connect(url: str, *, cafile: str | None = None, verify: bool = True, idle_timeout_s: float = 30,
                     address: tuple[str, int] | None = None,
                     connect_timeout_s: float | None = None) -> AsyncIterator[H3Client]:
    """One HTTP/3 connection to ``url``'s authority.

    ``address`` dials another (host, port), e.g. a network-emulating relay, while the TLS server name and
    the ``:authority`` still come from ``url``. ``connect_timeout_s`` bounds the handshake: without it a
    silent port costs the whole idle timeout.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"HTTP/3 needs an https:// URL, got {url!r}")
    try:
        port = parts.port or 443
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    host, port = address or (parts.hostname, port)
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, idle_timeout=idle_timeout_s,
                               server_name=parts.hostname)
    if cafile:
        config.load_verify_locations(cafile)
    if not verify:
        config.verify_mode = ssl.CERT_NONE
    async with AsyncExitStack() as stack:
        opening = stack.enter_async_context(connect(host, port, configuration=config,
                                                    create_protocol=_ClientProtocol))
        try:
            proto = await asyncio.wait_for(opening, connect_timeout_s)
        except TimeoutError:
            raise TimeoutError(f"no QUIC handshake with {host}:{port} within {connect_timeout_s} s") from None
        yield H3Client(proto, parts.netloc)
