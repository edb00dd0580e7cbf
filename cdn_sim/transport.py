"""The edge's transports: HTTP/3 over aioquic (UDP) and HTTP/1.1 over TCP, plain or TLS on one port.

Each adapter only turns wire events into a :class:`~cdn_sim.http.Request` and a
:class:`~cdn_sim.http.Response` back into frames; what to answer is the handler's business.

The TCP listener tells plain HTTP from TLS by peeking at the first byte (0x16 opens a TLS handshake), so
``http://localhost:8443`` (health checks, curl) and ``https://localhost:8443`` (browsers, which honour
Alt-Svc only over https) share the port with HTTP/3 on UDP. Both answer with ``Alt-Svc: h3``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import re
import socket
import ssl
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent, StreamReset

from cdn_sim.http import MAX_BODY, MAX_TARGET, SERVER_NAME, Handler, Request, Response

log = logging.getLogger("reelflow.edge")

MAX_HEAD = 16 * 1024  # request line + headers over HTTP/1.1
IDLE_TIMEOUT_S = 60.0
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _no_body(method: str, status: int) -> bool:
    return method == "HEAD" or status in (204, 304) or 100 <= status < 200


# -- HTTP/3 -----------------------------------------------------------------------------------------

class _Stream:
    __slots__ = ("headers", "body", "too_large")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.too_large = False


class H3EdgeProtocol(QuicConnectionProtocol):
    """One QUIC connection: decodes HTTP/3 requests and answers each stream from the handler."""

    handler: Handler  # set on a subclass by serve_h3

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._http: H3Connection | None = None
        self._streams: dict[int, _Stream] = {}
        self._answering: set[int] = set()  # dispatched, answer not yet sent
        self._reset: set[int] = set()  # of those, the ones the client reset meanwhile
        self._peer = ""
        self._tasks: set[asyncio.Task[None]] = set()  # the loop only keeps weak references to tasks

    def datagram_received(self, data: bytes | str, addr: tuple) -> None:  # type: ignore[override]
        self._peer = addr[0]  # the client's address, for loopback-only admin calls
        super().datagram_received(data, addr)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._http = H3Connection(self._quic)
        elif isinstance(event, StreamReset):
            self._streams.pop(event.stream_id, None)
            if event.stream_id in self._answering:
                self._reset.add(event.stream_id)
        if self._http is not None:
            for h3_event in self._http.handle_event(event):
                self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived):
            if event.stream_id not in self._streams:  # a second HEADERS would be trailers: ignored
                self._streams[event.stream_id] = _Stream(event.headers)
        elif isinstance(event, DataReceived) and event.stream_id in self._streams:
            stream = self._streams[event.stream_id]
            if len(stream.body) + len(event.data) > MAX_BODY:
                stream.too_large = True
            else:
                stream.body += event.data
        else:
            return
        if event.stream_ended and event.stream_id in self._streams:
            self._dispatch(event.stream_id, self._streams.pop(event.stream_id))

    def _dispatch(self, stream_id: int, stream: _Stream) -> None:
        self._answering.add(stream_id)
        task = asyncio.ensure_future(self._respond(stream_id, stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, stream_id: int, stream: _Stream) -> None:
        headers: dict[str, str] = {}
        for k, v in stream.headers:
            name, value = k.decode("latin-1").lower(), v.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        method = headers.pop(":method", "GET")
        target = headers.pop(":path", "/")
        if stream.too_large:
            resp = Response(413, [("content-type", "text/plain"), ("content-length", "20")], b"request body too big")
        else:
            resp = await self.handler(Request(method, target, headers, bytes(stream.body), self._peer, "h3"))
        self._answering.discard(stream_id)
        if self._http is None or stream_id in self._reset:
            self._reset.discard(stream_id)
            return
        body = b"" if _no_body(method, resp.status) else resp.body
        out = [(b":status", str(resp.status).encode()), (b"server", SERVER_NAME.encode())]
        # aioquic's client checks a HEAD answer's content-length against its (empty) body and closes the
        # connection, so HEAD over HTTP/3 goes without it (RFC 9110 §8.6 makes it optional there).
        out += [(k.encode(), v.encode("latin-1")) for k, v in resp.headers
                if not (method == "HEAD" and k == "content-length")]
        try:
            self._http.send_headers(stream_id, out, end_stream=not body)
            if body:
                self._http.send_data(stream_id, body, end_stream=True)
        except Exception as exc:  # the stream or connection went away meanwhile
            log.debug("could not answer stream %d: %s", stream_id, exc)
            return
        self.transmit()


def _udp_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def serve_h3(handler: Handler, host: str, port: int, cert: Path, key: Path, *,
                   reuse_port: bool = False) -> QuicServer:
    """aioquic's ``serve`` on a socket of our own, so that worker processes can share the port."""
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    config.load_cert_chain(str(cert), str(key))
    protocol = type("BoundH3EdgeProtocol", (H3EdgeProtocol,), {"handler": staticmethod(handler)})
    loop = asyncio.get_running_loop()
    _, server = await loop.create_datagram_endpoint(
        lambda: QuicServer(configuration=config, create_protocol=protocol),
        sock=_udp_socket(host, port, reuse_port))
    return server


# -- HTTP/1.1 over TCP, plain or TLS ---------------------------------------------------------------------

def _head(status: int, headers: list[tuple[str, str]], alt_svc: str, close: bool) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", f"server: {SERVER_NAME}", f"alt-svc: {alt_svc}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error(status: int, text: str) -> Response:
    body = (text + "\n").encode()
    return Response(status, [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))], body)


def parse_http1_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | Response:
    """(method, target, version, headers) of one request head, or the error response to send."""
    try:
        lines = head.decode("latin-1").split("\r\n")
    except UnicodeDecodeError:  # latin-1 decodes anything; kept for clarity
        return _error(400, "undecodable request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        return _error(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        return _error(505, "only HTTP/1.0 and HTTP/1.1 are spoken here (HTTP/3 on UDP)")
    if len(target) > MAX_TARGET:
        return _error(414, f"request target longer than {MAX_TARGET} bytes")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding
            return _error(400, "malformed header line")
        name, value = name.lower(), value.strip()
        if name == "content-length" and name in headers and headers[name] != value:
            return _error(400, "conflicting content-length")
        headers[name] = f"{headers[name]}, {value}" if name in headers and name != "content-length" else value
    return method, target, version, headers


async def serve_http1(handler: Handler, alt_svc: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      peer: str, protocol: str = "http/1.1") -> None:
    """HTTP/1.1 with keep-alive: what browsers need to learn about h3, health checks and curl need."""
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
            except asyncio.LimitOverrunError:
                writer.write(_head(431, [("content-length", "0")], alt_svc, True))
                break
            parsed = parse_http1_head(head[:-4])
            if isinstance(parsed, Response):
                writer.write(_head(parsed.status, parsed.headers, alt_svc, True) + parsed.body)
                break
            method, target, version, headers = parsed
            if "transfer-encoding" in headers:  # no chunked bodies: refusing them avoids request smuggling
                resp = _error(501, "transfer-encoding is not supported; send content-length")
                writer.write(_head(resp.status, resp.headers, alt_svc, True) + resp.body)
                break
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_BODY:
                resp = _error(413 if length.isdigit() else 400, "bad or too large content-length")
                writer.write(_head(resp.status, resp.headers, alt_svc, True) + resp.body)
                break
            if int(length) and headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits a second for this otherwise
            body = await reader.readexactly(int(length)) if int(length) else b""
            resp = await handler(Request(method, target, headers, body, peer, protocol))
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            writer.write(_head(resp.status, resp.headers, alt_svc, close))
            if resp.body and not _no_body(method, resp.status):
                writer.write(resp.body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await writer.drain()
        writer.close()


class TcpServer:
    """An accept loop that serves HTTP/1.1 in the clear or over TLS, whichever the client starts."""

    def __init__(self, sock: socket.socket, handler: Handler, alt_svc: str, tls: ssl.SSLContext | None) -> None:
        self.sock = sock
        self.handler = handler
        self.alt_svc = alt_svc
        self.tls = tls
        self._tasks: set[asyncio.Task[None]] = set()
        self._accept = asyncio.ensure_future(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(self.sock)
            except OSError as exc:  # e.g. out of file descriptors: back off rather than spin
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = asyncio.ensure_future(self._connection(conn, addr[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connection(self, conn: socket.socket, peer: str) -> None:
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        try:
            first = await asyncio.wait_for(_peek(loop, conn), IDLE_TIMEOUT_S)
        except (TimeoutError, OSError):
            conn.close()
            return
        use_tls = first == b"\x16" and self.tls is not None
        reader = asyncio.StreamReader(limit=MAX_HEAD)
        try:
            transport, protocol = await loop.connect_accepted_socket(
                lambda: asyncio.StreamReaderProtocol(reader), conn, ssl=self.tls if use_tls else None,
                ssl_handshake_timeout=10 if use_tls else None)
        except (OSError, ssl.SSLError, TimeoutError):
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await serve_http1(self.handler, self.alt_svc, reader, writer, peer, "https/1.1" if use_tls else "http/1.1")

    def close(self) -> None:
        self._accept.cancel()
        for task in self._tasks:
            task.cancel()
        self.sock.close()


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    readable = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: readable.done() or readable.set_result(None))
    try:
        await readable
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv(1, socket.MSG_PEEK)


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def serve_tcp(handler: Handler, host: str, port: int, h3_port: int, *, cert: Path | None = None,
                    key: Path | None = None, reuse_port: bool = False) -> TcpServer:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    tls = _tls_context(cert, key) if cert is not None and key is not None else None
    return TcpServer(sock, handler, f'h3=":{h3_port}"; ma=86400', tls)


async def start_edge(app: Handler | object, hosts: tuple[str, ...], port: int, cert: Path, key: Path, *,
                     reuse_port: bool = False) -> list[QuicServer | TcpServer]:
    """Bind HTTP/3 (UDP) and HTTP/1.1 (TCP, plain and TLS) on every host; the servers to close on shutdown.

    ``app`` is a handler or an object with a ``handle`` method (an EdgeApp).
    """
    handler: Handler = getattr(app, "handle", app)  # type: ignore[assignment]
    servers: list[QuicServer | TcpServer] = []
    try:
        for host in hosts:
            servers.append(await serve_h3(handler, host, port, cert, key, reuse_port=reuse_port))
            servers.append(await serve_tcp(handler, host, port, port, cert=cert, key=key, reuse_port=reuse_port))
    except BaseException:
        for server in servers:
            server.close()
        raise
    return servers
