"""Finding 5, "no limits where abuse starts", over real PostgreSQL and Redis and a real uvicorn server: the
request body limit (before routing and auth), and the rate limits per class with the shipped defaults:
sign-up and dev tokens per client IP, comments, follows and reactions per account, each apart from the
general budget that reads spend."""

from __future__ import annotations

import asyncio
import secrets
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from config.settings import Settings
from feed_api.app import create_app
from tests.conftest import free_port
from tests.integration.feed_helpers import (
    FakePurger,
    Person,
    RecordingPipeline,
    clear_live_keys,
    make_client,
    word,
)

MIB = 2**20
HUNDRED_MIB = 100 * MIB
BLOCK = 64 * 2**10
# Every limit as shipped (tests/conftest.py raises the class budgets for all other tests).
SHIPPED = {name: field.default for name, field in Settings.model_fields.items()
           if name.endswith(("_limit_per_min", "_limit_burst"))
           or name in ("rate_limit_per_s", "rate_limit_burst", "max_request_body_bytes")}


@pytest.fixture(scope="module", autouse=True)
def _live_keys(settings):
    yield
    clear_live_keys(settings)


@pytest.fixture(scope="module")
def server(settings, store, catalog_url) -> Iterator[str]:
    """The API as deployed: uvicorn, whose proxy-header handling takes the client's address from
    X-Forwarded-For only when the peer is in forwarded_allow_ips (127.0.0.1, uvicorn's default, here the
    tests' stand-in for a load balancer); the shipped limits."""
    cfg = settings.model_copy(update={**SHIPPED, "feed_ranker": False})
    app = create_app(cfg, pipeline=RecordingPipeline(), purger=FakePurger())
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, proxy_headers=True,
                                        forwarded_allow_ips="127.0.0.1", log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=15)


def client_from(base: str, ip: str) -> httpx.Client:
    """A client behind the proxy at ``ip``: the proxy (a trusted peer) names it in X-Forwarded-For."""
    return httpx.Client(base_url=base, headers={"X-Forwarded-For": ip}, timeout=30)


def fresh_ip() -> str:
    return "10." + ".".join(str(secrets.randbelow(250)) for _ in range(3))


# ------------------------------------------------------------------------------------------- body limit
def test_a_100_mib_body_without_a_token_is_refused_413_without_being_read(settings, store, catalog_url):
    """Was: FastAPI read all 100 MiB of a route's body before its auth dependency answered 401."""
    app = make_client(settings).app  # called directly over ASGI: every chunk the server pulls is counted
    limit = settings.max_request_body_bytes
    pulled = 0

    async def hundred_mib() -> AsyncIterator[bytes]:  # chunked, no Content-Length; one block, sent 1600 times
        nonlocal pulled
        block = b" " * BLOCK
        for _ in range(HUNDRED_MIB // BLOCK):
            pulled += len(block)
            yield block

    async def post() -> tuple[httpx.Response, float]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
            started = time.perf_counter()
            resp = await c.post("/v1/videos", content=hundred_mib(), headers={"Content-Type": "application/json"})
            return resp, time.perf_counter() - started

    resp, took = asyncio.run(post())
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "payload_too_large" and resp.json()["instance"] == "/v1/videos"
    assert resp.headers["connection"] == "close"
    assert pulled <= limit + BLOCK, pulled  # read up to the limit, then cut off
    assert took < 2, took

    # Declared too large: refused before a single byte of the body is pulled.
    pulled = 0

    async def declared() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
            return await c.post("/v1/users", content=hundred_mib(),
                                headers={"Content-Type": "application/json", "Content-Length": str(HUNDRED_MIB)})

    resp = asyncio.run(declared())
    assert resp.status_code == 413 and resp.json()["code"] == "payload_too_large"
    assert pulled == 0


def _raw_post(base: str, path: str, head: str, body_frame: bytes | None, total: int) -> tuple[bytes, int, float]:
    """POST over a raw socket: send ``head``, then ``body_frame`` until ``total`` bytes went out or the server
    answered or stopped reading. Returns (what the server answered, body bytes sent, seconds to the answer)."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    started = time.perf_counter()
    sent = 0
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n{head}\r\n".encode())
        sock.settimeout(0.5)
        while body_frame is not None and sent < total:
            if select.select([sock], [], [], 0)[0]:  # the server has answered: stop sending
                break
            try:
                sock.sendall(body_frame)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):  # it stopped reading, or hung up
                break
            sent += BLOCK
        sock.settimeout(5)
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):  # no answer (still waiting for the body), or a reset
                break
            if not data:
                break
            answer += data
        return answer, sent, time.perf_counter() - started
    finally:
        sock.close()


def test_over_a_real_server_an_oversized_body_is_answered_413_and_the_connection_closed(server):
    block = b" " * BLOCK
    # Declared: the answer comes before any of the body is sent, and the server hangs up.
    answer, _, took = _raw_post(server, "/v1/videos", f"Content-Length: {HUNDRED_MIB}\r\n", None, 0)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"payload_too_large" in answer and b"connection: close" in answer.lower()
    assert took < 2, took
    # Chunked: cut off at the limit; the server stops reading long before 100 MiB.
    chunk = b"%x\r\n" % len(block) + block + b"\r\n"
    answer, sent, took = _raw_post(server, "/v1/videos", "Transfer-Encoding: chunked\r\n", chunk, HUNDRED_MIB)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"payload_too_large" in answer
    assert sent < 20 * MIB and took < 5, (sent, took)  # what went out is the limit plus the kernel's buffers


def test_bodies_up_to_the_limit_still_work(server):
    with client_from(server, fresh_ip()) as api:
        # Just under the limit, streamed without a length: the route sees it (422: the name is too long).
        limit = SHIPPED["max_request_body_bytes"]
        big = b'{"handle": "u_%s", "display_name": "%s"}' % (word(8).encode(), b"x" * (limit - 100))

        def stream() -> Iterator[bytes]:
            yield from (big[i:i + 4096] for i in range(0, len(big), 4096))

        resp = api.post("/v1/users", content=stream(), headers={"Content-Type": "application/json"})
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "display_name"
        me = Person(api)
        assert api.get(f"/v1/users/{me.id}", headers=me.headers).status_code == 200
