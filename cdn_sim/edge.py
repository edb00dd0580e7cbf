"""The HTTP/3 edge: aioquic on 127.0.0.1 and ::1, plus a TCP listener that advertises h3 via Alt-Svc.

Request handling (:class:`EdgeApp`) is independent of the transport; the QUIC protocol class and the
HTTP/1.1 listener are thin adapters that feed it requests and write its responses back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

from cdn_sim.tier import CachedObject, CacheTier, NotFound

log = logging.getLogger("reelflow.edge")

SERVER_NAME = "reelflow-edge"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class EdgeApp:
    """Maps ``/<bucket>/<key>`` onto the cache tier; only the configured buckets are served."""

    def __init__(self, tier: CacheTier, buckets: tuple[str, ...] = ("vod",),
                 extra_headers: list[tuple[str, str]] | None = None) -> None:
        self.tier = tier
        self.buckets = buckets
        self.extra_headers = extra_headers or []

    async def handle(self, method: str, path: str) -> Response:
        path = path.split("?", 1)[0]
        if path == "/healthz":
            return self._plain(200, b"ok\n")
        if method not in ("GET", "HEAD"):
            return self._plain(405, b"method not allowed\n", [("allow", "GET, HEAD")])
        bucket, _, key = path.lstrip("/").partition("/")
        if bucket not in self.buckets or not key or ".." in key.split("/"):
            return self._plain(404, b"not found\n")
        try:
            obj, hit = await self.tier.get(f"{bucket}/{key}")
        except NotFound:
            return self._plain(404, b"not found\n")
        except Exception as exc:  # the origin is down and nothing stale is cached
            log.warning("origin error for %s: %s", path, exc)
            return self._plain(502, b"origin unavailable\n")
        return self._object(obj, hit, head=method == "HEAD")

    def _object(self, obj: CachedObject, hit: bool, *, head: bool) -> Response:
        headers = [("content-type", obj.content_type), ("content-length", str(len(obj.body))),
                   ("x-cache", "HIT" if hit else "MISS"), ("access-control-allow-origin", "*")]
        if obj.cache_control:
            headers.append(("cache-control", obj.cache_control))
        if obj.etag:
            headers.append(("etag", obj.etag))
        return Response(200, headers + self.extra_headers, b"" if head else obj.body)

    def _plain(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> Response:
        return Response(status, [("content-type", "text/plain"), ("content-length", str(len(body)))]
                        + (headers or []) + self.extra_headers, body)


Handler = Callable[[str, str], Awaitable[Response]]


class H3EdgeProtocol(QuicConnectionProtocol):
    """One QUIC connection: decodes HTTP/3 requests and answers each stream from the app."""

    handler: Handler  # set on the class by serve_h3

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._http: H3Connection | None = None
        self._requests: dict[int, tuple[str, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the loop only keeps weak references to tasks

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._http = H3Connection(self._quic)
        if self._http is not None:
            for h3_event in self._http.handle_event(event):
                self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived):
            headers = dict(event.headers)
            method = headers.get(b":method", b"GET").decode()
            path = headers.get(b":path", b"/").decode()
            self._requests[event.stream_id] = (method, path)
            if event.stream_ended:
                self._dispatch(event.stream_id)
        elif isinstance(event, DataReceived) and event.stream_ended and event.stream_id in self._requests:
            self._dispatch(event.stream_id)

    def _dispatch(self, stream_id: int) -> None:
        method, path = self._requests.pop(stream_id)
        task = asyncio.ensure_future(self._respond(stream_id, method, path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _respond(self, stream_id: int, method: str, path: str) -> None:
        resp = await self.handler(method, path)
        if self._http is None:
            return
        headers = [(b":status", str(resp.status).encode()), (b"server", SERVER_NAME.encode())]
        headers += [(k.encode(), v.encode()) for k, v in resp.headers]
        self._http.send_headers(stream_id, headers, end_stream=not resp.body)
        if resp.body:
            self._http.send_data(stream_id, resp.body, end_stream=True)
        self.transmit()


async def serve_h3(handler: Handler, host: str, port: int, cert: Path, key: Path) -> object:
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    config.load_cert_chain(str(cert), str(key))
    protocol = type("BoundH3EdgeProtocol", (H3EdgeProtocol,), {"handler": staticmethod(handler)})
    return await serve(host, port, configuration=config, create_protocol=protocol)


async def _serve_http1(handler: Handler, alt_svc: str, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with keep-alive, enough for browsers to learn about h3 and for health checks."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                break
            method, path, version = parts
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            if int(headers.get("content-length", "0") or 0):
                await reader.readexactly(int(headers["content-length"]))
            resp = await handler(method, path)
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            out = [f"HTTP/1.1 {resp.status} {'OK' if resp.status < 400 else 'Error'}", f"server: {SERVER_NAME}",
                   f"alt-svc: {alt_svc}"] + [f"{k}: {v}" for k, v in resp.headers]
            if close:
                out.append("connection: close")
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + resp.body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve_tcp(handler: Handler, host: str, port: int, h3_port: int) -> asyncio.Server:
    alt_svc = f'h3=":{h3_port}"; ma=86400'
    return await asyncio.start_server(lambda r, w: _serve_http1(handler, alt_svc, r, w), host, port)


async def start_edge(app: EdgeApp, hosts: tuple[str, ...], port: int, cert: Path, key: Path) -> list[object]:
    """Bind HTTP/3 (UDP) and HTTP/1.1 (TCP) on every host; returns the servers to close on shutdown."""
    servers: list[object] = []
    for host in hosts:
        servers.append(await serve_h3(app.handle, host, port, cert, key))
        servers.append(await serve_tcp(app.handle, host, port, port))
    return servers
