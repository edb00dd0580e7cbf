"""The edge serves the web app (``/``, ``/app/...`` with history fallback) and forwards ``/v1/...`` to the API.

A real edge (HTTP/3 and HTTP/1.1 listeners) over a stub origin, with a small Starlette app under uvicorn as
the API upstream: what goes up (headers, body, the client's address), what comes back (an event stream
chunk by chunk, not buffered), the body cap, and no way out of the web root.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from adapters.api_proxy import ApiProxy
from cdn_sim.certs import ensure_certificate
from cdn_sim.edge import EdgeApp
from cdn_sim.http import MAX_BODY
from cdn_sim.server import build_cdn
from cdn_sim.tier import NotFound
from cdn_sim.transport import start_edge
from delivery.h3client import h3_connect
from tests.background import serving_in_thread, uvicorn_serving
from tests.conftest import free_port

SSE_GAP_S = 1.5
seen: list[dict] = []  # what the upstream received


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    got = {"method": request.method, "path": request.url.path, "query": request.url.query,
           "headers": dict(request.headers), "body": body.decode(errors="replace"), "client": request.client.host}
    seen.append(got)
    return JSONResponse(got, status_code=201 if request.method == "POST" else 200, headers={"x-api": "yes"})


async def _events(request: Request) -> StreamingResponse:
    async def gen():
        yield b"id: 1\nevent: a\ndata: {\"n\": 1}\n\n"
        await asyncio.sleep(SSE_GAP_S)
        yield b"id: 2\nevent: a\ndata: {\"n\": 2}\n\n"
    return StreamingResponse(gen(), media_type="text/event-stream", headers={"cache-control": "no-store"})


UPSTREAM = Starlette(routes=[Route("/v1/echo", _echo, methods=["GET", "POST", "PATCH", "DELETE"]),
                             Route("/v1/events", _events)])


async def _origin(key: str):
    raise NotFound(key)


@pytest.fixture(scope="module")
def web_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("web")
    (root / "app").mkdir()
    (root / "app" / "index.html").write_text("<!doctype html><title>app</title><script src=/app/main.js></script>")
    (root / "app" / "main.js").write_text("export const x = 1;\n")
    (root / "app" / ".env").write_text("SECRET=1\n")
    (root / "secret.txt").write_text("outside the app\n")
    (root / "app" / "out").symlink_to(root / "secret.txt")
    return root


@pytest.fixture(scope="module")
def api_port():
    port = free_port()

    serve = uvicorn_serving(UPSTREAM, port, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    with serving_in_thread(serve):
        yield port


def _serve_edge(web_root: Path, api: str | None, cert_dir: Path):
    port = free_port()
    cert, key = ensure_certificate(cert_dir)

    async def serve(ready: asyncio.Event) -> None:
        app = EdgeApp(build_cdn(_origin, edge_bytes=1_000_000), static_dir=web_root,
                      api=ApiProxy(api) if api else None)
        servers = await start_edge(app, ("127.0.0.1",), port, cert, key)
        ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            for s in servers:
                s.close()
    return port, serve


@pytest.fixture(scope="module")
def edge(web_root, api_port, tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("certs")
    port, serve = _serve_edge(web_root, f"http://127.0.0.1:{api_port}", cert_dir)
    with serving_in_thread(serve):
        yield {"port": port, "url": f"http://127.0.0.1:{port}", "cafile": str(cert_dir / "edge-cert.pem")}


def test_app_index_routes_and_files(edge):
    with httpx.Client(base_url=edge["url"]) as c:
        home = c.get("/")
        route = c.get("/app/tag/cats")
        deep = c.get("/app/studio/0123456789abcdef")
        script = c.get("/app/main.js")
        missing_script = c.get("/app/nope.js")
        head = c.head("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert "<title>app</title>" in home.text and home.headers["cache-control"] == "no-cache"
    assert route.text == home.text and deep.text == home.text  # history fallback: the page routes itself
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert missing_script.status_code == 404  # never HTML under a script's name
    assert head.status_code == 200 and head.content == b""


def test_no_way_out_of_the_web_root(edge):
    with httpx.Client(base_url=edge["url"]) as c:
        dotdot = c.get("/app/../secret.txt")  # httpx keeps it as sent? It normalises: send raw below too
        statuses = {p: c.send(c.build_request("GET", edge["url"] + p)).status_code for p in (
            "/app/%2e%2e/secret.txt", "/app/%2E%2E/%2E%2E/etc/passwd", "/app/.env", "/app/out", "/app/..%2fsecret.txt")}
    assert dotdot.status_code in (400, 404) and "outside the app" not in dotdot.text
    assert statuses["/app/%2e%2e/secret.txt"] == 400 and statuses["/app/%2E%2E/%2E%2E/etc/passwd"] == 400
    assert statuses["/app/.env"] == 404  # hidden files are not part of the app
    assert statuses["/app/out"] == 403  # a symlink out of the directory
    assert statuses["/app/..%2fsecret.txt"] == 400


def test_proxy_forwards_method_headers_body_and_the_client_address(edge):
    seen.clear()
    with httpx.Client(base_url=edge["url"]) as c:
        r = c.post("/v1/echo?x=1&y=%20z", content=b'{"a": 1}',
                   headers={"authorization": "Bearer tok", "content-type": "application/json",
                            "cookie": "session=steal-me", "x-forwarded-for": "6.6.6.6", "x-api-internal": "1"})
        patched = c.patch("/v1/echo", json={"caption": "c"})
    assert r.status_code == 201 and r.headers["x-api"] == "yes"
    got = r.json()
    assert got["method"] == "POST" and got["path"] == "/v1/echo" and got["query"] == "x=1&y=%20z"
    assert got["body"] == '{"a": 1}'
    h = got["headers"]
    assert h["authorization"] == "Bearer tok" and h["content-type"] == "application/json"
    assert "cookie" not in h and "x-api-internal" not in h  # only the headers the API reads go up
    assert h["x-forwarded-for"] == "127.0.0.1"  # the peer the edge saw, not the client's claim
    assert got["client"] == "127.0.0.1" and h["x-forwarded-proto"] == "http"
    assert patched.status_code == 200 and patched.json()["method"] == "PATCH"


def test_proxy_caps_request_bodies(edge):
    seen.clear()
    with httpx.Client(base_url=edge["url"]) as c:
        r = c.post("/v1/echo", content=b"x" * (MAX_BODY + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert not seen  # refused before anything reached the API


def test_proxy_caps_bodies_below_the_transport_limit(api_port):
    from cdn_sim.http import Request as EdgeRequest

    async def main():
        proxy = ApiProxy(f"http://127.0.0.1:{api_port}", max_body=100)
        try:
            return await proxy(EdgeRequest("POST", "/v1/echo", {}, b"y" * 101, "127.0.0.1", "h3"))
        finally:
            await proxy.aclose()
    assert asyncio.run(main()).status == 413


def test_event_stream_passes_through_unbuffered(edge):
    arrivals: list[tuple[float, str]] = []
    start = time.monotonic()
    with httpx.Client(base_url=edge["url"], timeout=10) as c, c.stream("GET", "/v1/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                arrivals.append((time.monotonic() - start, json.loads(line[5:])["n"]))
    assert [n for _, n in arrivals] == [1, 2]
    assert arrivals[0][0] < SSE_GAP_S * 0.6, arrivals  # the first event came before the second was written
    assert arrivals[1][0] >= SSE_GAP_S * 0.9, arrivals


def test_over_h3_app_and_api(edge):
    async def main():
        async with h3_connect(f"https://localhost:{edge['port']}/", cafile=edge["cafile"]) as c:
            return await c.get("/"), await c.get("/app/trending"), await c.get("/v1/echo?via=h3")

    home, route, api = asyncio.run(main())
    assert home.status == 200 and b"<title>app</title>" in home.body and route.body == home.body
    got = json.loads(api.body)
    assert api.status == 200 and got["query"] == "via=h3" and got["headers"]["x-forwarded-proto"] == "https"


def test_api_down_is_a_502_and_no_api_is_a_404(web_root, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    port, serve = _serve_edge(web_root, dead, tmp_path / "c1")
    with serving_in_thread(serve), httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        assert c.get("/v1/feed").status_code == 502
    port, serve = _serve_edge(web_root, None, tmp_path / "c2")
    with serving_in_thread(serve), httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        assert c.get("/v1/feed").status_code == 404
        assert c.get("/").status_code == 200
