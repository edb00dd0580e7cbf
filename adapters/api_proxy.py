"""The edge's reverse proxy to the feed API: ``/v1/...`` on the edge's origin goes to ``api_upstream``.

The web app is served by the edge (HTTPS, HTTP/3); forwarding the API through the same origin spares the
browser CORS preflights on every authenticated call and keeps the API itself off the public network. The
core (:class:`cdn_sim.edge.EdgeApp`) only sees a :data:`~cdn_sim.http.Handler`; the HTTP client lives here.

What goes up: the method, the path and query as sent, the body (the transports cap it at
``cdn_sim.http.MAX_BODY``; ``max_body`` may lower that), and only the request headers the API reads
(Authorization, Content-Type, Accept, Last-Event-ID, ...). ``X-Forwarded-For`` is the client's address as
the edge saw it, never a value the client sent (uvicorn trusts it from loopback peers, so the API's per-IP
rate limits see real clients), with ``X-Forwarded-Proto: https``. What comes back: the status, the
end-to-end headers, and the body as a stream, chunk by chunk, so Server-Sent Events pass through unbuffered.
"""

from __future__ import annotations

import logging

import httpx

from cdn_sim.http import MAX_BODY, Request, Response

log = logging.getLogger("reelflow.edge")

# Request headers the API uses; everything else (cookies, hop-by-hop, the client's own X-Forwarded-*) stays.
FORWARD_REQUEST = ("authorization", "content-type", "accept", "accept-language", "last-event-id", "user-agent",
                   "cache-control", "x-request-id")
# Hop-by-hop (RFC 9110 §7.6.1) and framing headers: the edge's transport sets its own.
DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
                 "proxy-authenticate", "server", "date", "alt-svc"}
READ_TIMEOUT_S = 120.0  # between two chunks: event streams send a keep-alive comment every 15 s


class ApiProxy:
    """A :data:`cdn_sim.http.Handler` forwarding to ``upstream`` (e.g. ``http://127.0.0.1:8000``)."""

    def __init__(self, upstream: str, *, max_body: int = MAX_BODY, client: httpx.AsyncClient | None = None,
                 connect_timeout_s: float = 5.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.max_body = min(max_body, MAX_BODY)
        timeout = httpx.Timeout(connect_timeout_s, read=READ_TIMEOUT_S, write=30.0, pool=connect_timeout_s)
        # No redirects followed (the browser sees the API's own), no environment proxies, no decompression:
        # Accept-Encoding identity below, so the bytes pass through as the API sent them.
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False,
                                                  limits=httpx.Limits(max_connections=512,
                                                                      max_keepalive_connections=64))

    async def __call__(self, req: Request) -> Response:
        if len(req.body) > self.max_body:
            return _plain(413, f"request body over {self.max_body} bytes")
        headers = {k: v for k, v in req.headers.items() if k in FORWARD_REQUEST}
        headers["accept-encoding"] = "identity"
        headers["x-forwarded-for"] = req.peer.split("%", 1)[0] if req.peer else "unknown"
        headers["x-forwarded-proto"] = "https" if req.protocol in ("h3", "https/1.1") else "http"
        if host := req.headers.get("host") or req.headers.get(":authority"):
            headers["x-forwarded-host"] = host
        try:
            upstream = await self.client.send(
                self.client.build_request(req.method, self.upstream + _target(req.target), headers=headers,
                                          content=req.body or None), stream=True)
        except httpx.TimeoutException:
            return _plain(504, "the API did not answer in time")
        except httpx.HTTPError as exc:
            log.warning("API upstream %s unreachable: %s", self.upstream, exc)
            return _plain(502, "the API is unreachable")
        out = [(k.lower(), v) for k, v in upstream.headers.multi_items() if k.lower() not in DROP_RESPONSE]
        return Response(upstream.status_code, out, stream=_Body(upstream))

    async def aclose(self) -> None:
        await self.client.aclose()


def _target(target: str) -> str:
    """Path and query only: an absolute-form target (a proxy request) must not choose the upstream host."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return target


class _Body:
    """The upstream body as an async iterator whose ``aclose`` releases the connection even when nobody read
    it (a HEAD, a 304, a client gone before the first chunk)."""

    def __init__(self, upstream: httpx.Response) -> None:
        self.upstream = upstream
        self._chunks = upstream.aiter_raw()

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except httpx.HTTPError as exc:  # the API went away mid-body: end the stream (the client sees it cut)
            log.info("API body ended early: %s", exc)
            raise StopAsyncIteration from exc

    async def aclose(self) -> None:
        await self.upstream.aclose()


def _plain(status: int, text: str) -> Response:
    body = (text + "\n").encode()
    return Response(status, [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))],
                    body)
