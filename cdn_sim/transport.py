"""The edge's transports: HTTP/3 over aioquic (UDP) and HTTP/1.1 over TCP, plain or TLS on one port.

Each adapter only turns wire events (aioquic's for HTTP/3, h11's for HTTP/1.1) into a
:class:`~cdn_sim.http.Request` and a :class:`~cdn_sim.http.Response` back into frames; what to answer is the
handler's business.

The TCP listener tells plain HTTP from TLS by peeking at the first byte (0x16 opens a TLS handshake), so
``http://localhost:8443`` (health checks, curl) and ``https://localhost:8443`` (browsers, which honour
Alt-Svc only over https) share the port with HTTP/3 on UDP. Both answer with ``Alt-Svc: h3``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
import ssl
from pathlib import Path

import h11
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
        try:
            if self._http is None or stream_id in self._reset:
                return
            streamed = resp.stream is not None and not _no_body(method, resp.status)
            body = b"" if _no_body(method, resp.status) else resp.body
            out = [(b":status", str(resp.status).encode()), (b"server", SERVER_NAME.encode())]
            # aioquic's client checks a HEAD answer's content-length against its (empty) body and closes the
            # connection, so HEAD over HTTP/3 goes without it (RFC 9110 §8.6 makes it optional there).
            out += [(k.encode(), v.encode("latin-1")) for k, v in resp.headers
                    if not (method == "HEAD" and k == "content-length")]
            try:
                self._http.send_headers(stream_id, out, end_stream=not (body or streamed))
                if body:
                    self._http.send_data(stream_id, body, end_stream=not streamed)
                self.transmit()
                if streamed:
                    await self._send_stream(stream_id, resp)
            except Exception as exc:  # the stream or connection went away meanwhile
                log.debug("could not answer stream %d: %s", stream_id, exc)
        finally:
            self._answering.discard(stream_id)
            self._reset.discard(stream_id)
            await _close_stream(resp)

    async def _send_stream(self, stream_id: int, resp: Response) -> None:
        """Each chunk as it comes; stops when the client resets the stream (checked per chunk, so an idle
        stream notices at its next chunk: the API's event streams send a keep-alive comment every 15 s)."""
        assert resp.stream is not None and self._http is not None
        async for chunk in resp.stream:
            if stream_id in self._reset:
                return
            if chunk:
                self._http.send_data(stream_id, chunk, end_stream=False)
                self.transmit()
        if stream_id not in self._reset:
            self._http.send_data(stream_id, b"", end_stream=True)
            self.transmit()


async def _close_stream(resp: Response) -> None:
    """Close a streamed body (and so the upstream connection behind it) whatever happened to the client."""
    aclose = getattr(resp.stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


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
# h11 parses and frames the messages and keeps the keep-alive state; this side turns its events into
# Requests and adds the edge's own limits and refusals on top.

_READ_SIZE = MAX_HEAD  # bytes per socket read; also bounds the copies _Http1Conn makes of unparsed input
_NO_HOST = "Missing mandatory Host: header"  # h11's message for a Host-less HTTP/1.1 request
_NO_CHUNKED = "transfer-encoding is not supported; send content-length"


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"


def _error(status: int, text: str) -> Response:
    body = (text + "\n").encode()
    return Response(status, [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))], body)


def _refusal(exc: h11.RemoteProtocolError) -> Response:
    """The answer to a request h11 could not parse: its status hint is 400, 431 or 501."""
    if exc.error_status_hint == 431:
        return Response(431, [("content-length", "0")])
    return _error(exc.error_status_hint, _NO_CHUNKED if exc.error_status_hint == 501 else "malformed request")


class _Http1Conn:
    """h11's server side of one connection, plus two things h11 leaves to its user.

    h11 refuses an HTTP/1.1 request without Host (RFC 9112 §3.2); the edge has always served them (probes,
    ``nc``), so such a head is parsed again with an empty Host, which the handler does not see. And h11's
    ``max_incomplete_event_size`` bounds only a head still arriving: one that comes whole in a read may be
    longer, so the head's exact size is checked against MAX_HEAD too. Both need the bytes received since the
    current head began, which is all this class keeps besides the h11 connection.
    """

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.eof = False
        self._head = bytearray()  # input since the current request head began (it may run past the head)
        self._host_added = False

    def receive(self, data: bytes) -> None:
        self.eof = self.eof or not data
        if self.h11.their_state is h11.IDLE:
            self._head += data
        self.h11.receive_data(data)

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            return self.h11.next_event()
        except h11.RemoteProtocolError as exc:
            if str(exc) != _NO_HOST:
                raise
        # h11 checks Host after everything else in the head, so the same bytes with a Host added parse.
        head = bytes(self._head)
        line_end = head.index(b"\n") + 1
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.h11.receive_data(head[:line_end] + b"host: \r\n" + head[line_end:])
        if self.eof:
            self.h11.receive_data(b"")
        self._host_added = True
        return self.h11.next_event()

    def request_head(self, event: h11.Request) -> tuple[str, str, str, dict[str, str]] | Response:
        """(method, target, version, headers) of the head h11 just parsed, or the refusal to send."""
        if len(self._head) - len(self.h11.trailing_data[0]) > MAX_HEAD:
            return Response(431, [("content-length", "0")])
        version = event.http_version.decode()
        if version not in ("1.1", "1.0"):
            return _error(505, "only HTTP/1.0 and HTTP/1.1 are spoken here (HTTP/3 on UDP)")
        target = event.target.decode("latin-1")
        if len(target) > MAX_TARGET:
            return _error(414, f"request target longer than {MAX_TARGET} bytes")
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:  # names come lower-cased; repeats are joined, as over h3
            if raw_name == b"host" and self._host_added:
                continue
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if "transfer-encoding" in headers:
            if "content-length" in headers:  # RFC 9112 §6.1: the classic request smuggling set-up
                return _error(400, "content-length and transfer-encoding together")
            return _error(501, _NO_CHUNKED)  # request bodies are small JSON: no need for chunked ones
        if int(headers.get("content-length", "0")) > MAX_BODY:  # h11 has checked it is digits
            return _error(413, "bad or too large content-length")
        return event.method.decode("latin-1"), target, f"HTTP/{version}", headers

    def start_next_cycle(self) -> None:
        self.h11.start_next_cycle()
        self._head = bytearray(self.h11.trailing_data[0])  # a pipelined request may have arrived already
        self._host_added = False

    def response(self, resp: Response, method: str, alt_svc: str, *, close: bool = False) -> bytes:
        """``resp`` framed by h11; it adds ``connection: close`` itself where the client asked or is HTTP/1.0."""
        headers = [("server", SERVER_NAME), ("alt-svc", alt_svc), *resp.headers]
        body = b"" if _no_body(method, resp.status) else resp.body
        streamed = resp.stream is not None and not _no_body(method, resp.status)
        if body and not streamed and resp.header("content-length") is None:
            headers.append(("content-length", str(len(body))))  # the whole body is at hand: no need to chunk it
        if close:
            headers.append(("connection", "close"))
        out = self.h11.send(h11.Response(status_code=resp.status, reason=_reason(resp.status),
                                         headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]))
        if body:
            out += self.h11.send(h11.Data(data=body))
        if streamed:  # the caller sends the chunks and the end of the message
            return out
        return out + self.h11.send(h11.EndOfMessage())


def parse_http1_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | Response:
    """(method, target, version, headers) of one request head (without its blank line), or the error response
    to send: the checks the TCP listener applies to every request."""
    conn = _Http1Conn()
    conn.receive(head + b"\r\n\r\n")
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        return _refusal(exc)
    return conn.request_head(event) if isinstance(event, h11.Request) else _error(400, "malformed request")


async def _next_event(conn: _Http1Conn, reader: asyncio.StreamReader) -> h11.Event | type[h11.PAUSED]:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive(await reader.read(_READ_SIZE))


async def _read_request(conn: _Http1Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                        protocol: str) -> Request | Response | None:
    """The next request on the connection, the refusal to send instead, or None once the client is done."""
    event = await _next_event(conn, reader)
    if not isinstance(event, h11.Request):  # ConnectionClosed: the client closed between requests
        return None
    head = conn.request_head(event)
    if isinstance(head, Response):
        return head
    method, target, _, headers = head
    if conn.h11.they_are_waiting_for_100_continue and int(headers.get("content-length", "0")):
        # curl waits a second for this otherwise
        writer.write(conn.h11.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")))
    body = bytearray()
    while isinstance(event := await _next_event(conn, reader), h11.Data):
        body += event.data
    return Request(method, target, headers, bytes(body), peer, protocol)


async def serve_http1(handler: Handler, alt_svc: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      peer: str, protocol: str = "http/1.1") -> None:
    """HTTP/1.1 with keep-alive and pipelining: what browsers need to learn about h3, health checks and curl need."""
    conn = _Http1Conn()
    try:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT_S):  # the wait for a request and its arrival, body too
                    request = await _read_request(conn, reader, writer, peer, protocol)
            except h11.RemoteProtocolError as exc:
                if not conn.eof:  # a client that hung up mid-request gets no answer, as before
                    writer.write(conn.response(_refusal(exc), "", alt_svc, close=True))
                break
            if request is None:
                break
            if isinstance(request, Response):
                writer.write(conn.response(request, "", alt_svc, close=True))
                break
            resp = await handler(request)
            try:
                writer.write(conn.response(resp, request.method, alt_svc))
                await writer.drain()
                if resp.stream is not None and not _no_body(request.method, resp.status):
                    async for chunk in resp.stream:  # h11 frames it: chunked unless a content-length was given
                        if chunk:
                            writer.write(conn.h11.send(h11.Data(data=chunk)))
                            await writer.drain()
                    writer.write(conn.h11.send(h11.EndOfMessage()))
                    await writer.drain()
            finally:
                await _close_stream(resp)
            if conn.h11.our_state is not h11.DONE:  # MUST_CLOSE: the client said close, or speaks HTTP/1.0
                break
            conn.start_next_cycle()
    except (TimeoutError, ConnectionError, ssl.SSLError):
        pass
    except h11.LocalProtocolError as exc:  # a response h11 will not frame, e.g. a header value with a newline
        log.warning("dropped an HTTP/1.1 connection from %s: %s", peer, exc)
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
