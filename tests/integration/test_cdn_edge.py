"""The live tier chain behind the HTTP/3 edge: real aioquic connections, real S3 origin (SeaweedFS).

The edge runs in its own thread and event loop, as a separate process would; the test talks to it over
UDP (HTTP/3) and TCP (HTTP/1.1, clear and TLS) only, and reads the tiers' counters to check what reached
which tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest
from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration

from adapters.edge_admin import EdgePurger, PurgeFailed
from adapters.origin_fetch import origin_fetcher
from adapters.s3 import OriginConfig, OriginStore
from cdn_sim.server import serve_app
from delivery.h3client import h3_connect
from jobs.purge import OriginTarget
from reelflow.edge import build_app, run_edge
from tests.background import serving_in_thread
from tests.conftest import free_port

SEGMENT_CC = "public, max-age=31536000, immutable"
RUN = f"cdn{int(time.time() * 1000) % 10**8}"  # this run's objects, so re-runs start cold
ADMIN_TOKEN = "test-admin-token-" + "k" * 24


def non_loopback_ipv4() -> str | None:
    """An address of this host that is not loopback (a container's view of another container), or None."""
    candidates: list[str] = []
    with contextlib.suppress(OSError):
        candidates.append(socket.gethostbyname(socket.gethostname()))  # often 127.0.x.1 on Debian
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it picks the default route's source address
        candidates.append(s.getsockname()[0])
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                             timeout=5).stdout
        candidates += re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    for ip in candidates:
        if ipaddress.ip_address(ip).is_loopback or ipaddress.ip_address(ip).is_unspecified:
            continue
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind((ip, 0))  # ours, and the edge can listen on it
            return ip
    return None


HOST_IP = non_loopback_ipv4()
needs_host_ip = pytest.mark.skipif(HOST_IP is None, reason="this host has no non-loopback IPv4 address to listen on")


class CountingOrigin:
    """The real S3 fetcher, counted; it can fail on demand or hold fetches until a crowd has gathered."""

    def __init__(self, store: OriginStore) -> None:
        self.fetch = origin_fetcher(store)
        self.calls: list[str] = []
        self.fail = False
        self.hold: tuple[object, int] | None = None  # (app, edge misses to wait for)

    async def __call__(self, key: str):
        self.calls.append(key)
        if self.hold is not None:
            app, wanted = self.hold
            deadline = time.monotonic() + 30
            while sum(t.counters.misses for t in app.cdn.edges.values()) < wanted and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("origin unreachable")
        return await self.fetch(key)


class H3Probe(QuicConnectionProtocol):
    """A bare HTTP/3 client: any method, any headers, a body."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.pending: dict[int, tuple[asyncio.Future, list, bytearray]] = {}

    def quic_event_received(self, event) -> None:
        for ev in self.http.handle_event(event):
            entry = self.pending.get(getattr(ev, "stream_id", -1))
            if entry is None:
                continue
            if isinstance(ev, HeadersReceived):
                entry[1].extend(ev.headers)
            elif isinstance(ev, DataReceived):
                entry[2].extend(ev.data)
            if ev.stream_ended:
                del self.pending[ev.stream_id]
                headers = {k.decode(): v.decode() for k, v in entry[1]}
                entry[0].set_result((int(headers.pop(":status")), headers, bytes(entry[2])))

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""):
        sid = self._quic.get_next_available_stream_id()
        future = asyncio.get_running_loop().create_future()
        self.pending[sid] = (future, [], bytearray())
        self.http.send_headers(sid, [(b":method", method.encode()), (b":scheme", b"https"),
                                     (b":authority", b"localhost"), (b":path", path.encode())]
                               + [(k.encode(), v.encode()) for k, v in (headers or {}).items()], end_stream=not body)
        if body:
            self.http.send_data(sid, body, end_stream=True)
        self.transmit()
        return await asyncio.wait_for(future, 60)


def h3(edge, host: str = "127.0.0.1"):
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name="localhost")
    config.load_verify_locations(edge["cafile"])
    return connect(host, edge["port"], configuration=config, create_protocol=H3Probe)


async def http1(port: int, raw: bytes, *, tls_cafile: str | None = None, host: str = "127.0.0.1") -> bytes:
    ctx = None
    if tls_cafile:
        ctx = ssl.create_default_context(cafile=tls_cafile)
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx,
                                                   server_hostname="localhost" if ctx else None)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


@pytest.fixture(scope="module")
def edge(settings, store, tmp_path_factory):
    web = tmp_path_factory.mktemp("web")
    (web / "index.html").write_text("<!doctype html><title>reelflow</title>")
    (web / "hls.min.js").write_text("/* hls.js */")
    origin = CountingOrigin(store)
    app = build_app(origin, (settings.vod_bucket,), 50_000_000, default_region="eu", static_dir=web)
    port = free_port()
    cert_dir = tmp_path_factory.mktemp("certs")
    hosts = ("127.0.0.1", "::1") + ((HOST_IP,) if HOST_IP else ())  # no admin token: loopback admin only
    with serving_in_thread(lambda ready: serve_app(app, hosts=hosts, port=port, cert_dir=cert_dir,
                                                   ready=ready)) as loop:
        yield {"port": port, "cafile": str(cert_dir / "edge-cert.pem"), "app": app, "origin": origin,
               "store": store, "loop": loop}


def on_edge_loop(edge, fn):
    """Run ``fn`` on the edge's loop (tier state belongs to that thread)."""
    async def call():
        return fn()
    return asyncio.run_coroutine_threadsafe(call(), edge["loop"]).result(10)


def test_flash_crowd_of_1000_requests_reaches_the_origin_once(edge):
    key = f"v/{RUN}flash/p/720p/seg00001.m4s"
    body = bytes(range(256)) * 32  # 8 KB: 1000 answers through aioquic on both ends of one process take a while
    edge["store"].put_bytes("vod", key, body, content_type="video/iso.segment", cache_control=SEGMENT_CC)
    app, origin = edge["app"], edge["origin"]
    before = on_edge_loop(edge, lambda: {t.name: dict(vars(t.counters)) for t in app.cdn.tiers})
    pops = list(app.cdn.edges)
    edge_misses = sum(c["misses"] for name, c in before.items() if name in pops)
    origin.hold = (app, edge_misses + 1000)  # the origin answers once all 1000 have arrived at the edges

    async def crowd():
        async def connection(i: int):
            async with h3(edge) as c:
                return await asyncio.gather(*(c.request("GET", f"/vod/{key}?pop={pops[i % len(pops)]}")
                                              for _ in range(100)))
        return [r for rs in await asyncio.gather(*(connection(i) for i in range(10))) for r in rs]

    try:
        results = asyncio.run(crowd())
    finally:
        origin.hold = None
    assert len(results) == 1000
    assert all(status == 200 and data == body for status, _, data in results)
    assert origin.calls.count(f"vod/{key}") == 1
    after = on_edge_loop(edge, lambda: {t.name: dict(vars(t.counters)) for t in app.cdn.tiers})
    delta = {name: {k: after[name][k] - before[name][k] for k in after[name]} for name in after}
    assert sum(delta[p]["misses"] for p in pops) == 1000
    for p in pops:  # every edge: one fetch upstream, the rest of its crowd coalesced
        assert delta[p]["upstream_fetches"] == 1 and delta[p]["coalesced"] == delta[p]["misses"] - 1 > 0
    for region in ("eu", "us", "ap"):  # two POPs per region
        assert delta[f"regional-{region}"]["upstream_fetches"] == 1
        assert delta[f"regional-{region}"]["coalesced"] == 1
    assert delta["shield"]["upstream_fetches"] == 1 and delta["shield"]["coalesced"] == 2

    async def metrics():
        async with h3(edge, "::1") as c:
            return await c.request("GET", "/metrics")

    status, headers, text = asyncio.run(metrics())
    assert status == 200 and headers["content-type"].startswith("text/plain")
    shield = after["shield"]
    assert f'reelflow_cdn_upstream_fetches_total{{level="shield",tier="shield"}} {shield["upstream_fetches"]}.0' \
        in text.decode()
    assert f'reelflow_cdn_coalesced_total{{level="edge",tier="eu-1"}} {after["eu-1"]["coalesced"]}.0' in text.decode()


def test_purge_over_admin_removes_the_video_everywhere_and_it_is_refetched(edge):
    video = f"{RUN}purge"
    key = f"vod/v/{video}/p/360p/seg00001.m4s"
    edge["store"].put_bytes("vod", key[4:], b"P" * 50_000, content_type="video/iso.segment", cache_control=SEGMENT_CC)

    async def get_all():
        async with h3(edge) as c:
            return [await c.request("GET", f"/{key}", {"x-client-region": r}) for r in ("eu", "us", "eu")]

    first = asyncio.run(get_all())
    assert [h["x-cache"] for _, h, _ in first] == ["MISS", "MISS", "HIT"]
    assert edge["origin"].calls.count(key) == 1
    raw = asyncio.run(http1(edge["port"], f"POST /admin/purge/{video} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n"
                                          "connection: close\r\n\r\n".encode()))
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    removed = json.loads(payload)["removed"]
    assert removed["eu-1"] == removed["us-1"] == removed["regional-eu"] == removed["regional-us"] == 1
    assert removed["shield"] == 1 and json.loads(payload)["total"] == 5
    again = asyncio.run(get_all())
    assert [h["x-cache"] for _, h, _ in again] == ["MISS", "MISS", "HIT"]
    assert edge["origin"].calls.count(key) == 2


def test_push_warms_every_edge_so_the_first_viewer_hits(edge):
    prefix = f"v/{RUN}push/p"
    store = edge["store"]
    store.put_bytes("vod", f"{prefix}/master.m3u8",
                    b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360\n360p/index.m3u8\n",
                    content_type="application/vnd.apple.mpegurl", cache_control="public, max-age=60")
    store.put_bytes("vod", f"{prefix}/360p/index.m3u8",
                    b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg00001.m4s\n"
                    b"#EXTINF:2.0,\nseg00002.m4s\n#EXT-X-ENDLIST\n",
                    content_type="application/vnd.apple.mpegurl", cache_control="public, max-age=60")
    for name in ("init.mp4", "seg00001.m4s", "seg00002.m4s"):
        store.put_bytes("vod", f"{prefix}/360p/{name}", name.encode() * 1000, content_type="video/iso.segment",
                        cache_control=SEGMENT_CC)
    request = json.dumps({"playlists": [f"/vod/{prefix}/master.m3u8"], "segments": 1}).encode()
    raw = asyncio.run(http1(edge["port"], b"POST /admin/push HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
                                          b"\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                                          % (len(request), request)))
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw
    report = json.loads(payload)
    assert report["fetched"] == 4 * 6 and not report["missing"]  # master, media playlist, init, seg 1 x 6 POPs
    assert edge["origin"].calls.count(f"vod/{prefix}/360p/seg00001.m4s") == 1

    async def viewers():
        async with h3(edge) as c:
            return [await c.request("GET", f"/vod/{prefix}/360p/seg00001.m4s?region={r}") for r in ("eu", "us", "ap")]

    for status, headers, _ in asyncio.run(viewers()):
        assert status == 200 and headers["x-cache"] == "HIT"
    assert edge["origin"].calls.count(f"vod/{prefix}/360p/seg00001.m4s") == 1
    assert edge["origin"].calls.count(f"vod/{prefix}/360p/seg00002.m4s") == 0  # beyond the first segment


def test_a_pop_that_is_down_sends_clients_to_the_next_nearest(edge):
    key = f"v/{RUN}route/seg.m4s"
    edge["store"].put_bytes("vod", key, b"r" * 1000, content_type="video/iso.segment", cache_control=SEGMENT_CC)

    def admin(path: str) -> bytes:
        raw = f"POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode()
        return asyncio.run(http1(edge["port"], raw))

    async def served_by():
        async with h3(edge) as c:
            return (await c.request("GET", f"/vod/{key}", {"x-client-region": "eu"}))[1]["x-served-by"]

    try:
        assert asyncio.run(served_by()) == "eu-1"
        assert admin("/admin/pops/eu-1/down").startswith(b"HTTP/1.1 200")
        assert asyncio.run(served_by()) == "eu-2"
        admin("/admin/pops/eu-2/down")
        assert asyncio.run(served_by()) == "us-1"
    finally:
        admin("/admin/pops/eu-1/up")
        admin("/admin/pops/eu-2/up")
    assert asyncio.run(served_by()) == "eu-1"


def test_stale_when_the_origin_errs_502_when_nothing_is_cached(edge):
    key = f"v/{RUN}stale/index.m3u8"
    edge["store"].put_bytes("vod", key, b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl",
                            cache_control="public, max-age=1")

    async def get(path: str):
        async with h3(edge) as c:
            return await c.request("GET", path)

    assert asyncio.run(get(f"/vod/{key}"))[1]["x-cache"] == "MISS"
    time.sleep(1.2)
    edge["origin"].fail = True
    try:
        status, headers, body = asyncio.run(get(f"/vod/{key}"))
        assert status == 200 and headers["x-cache"] == "STALE" and body == b"#EXTM3U\n"
        assert asyncio.run(get(f"/vod/v/{RUN}stale/never.m4s"))[0] == 502
    finally:
        edge["origin"].fail = False
    assert asyncio.run(get(f"/vod/{key}"))[1]["x-cache"] == "MISS"  # the origin is back: refetched


def test_ranges_head_cors_and_static_files_over_h3(edge):
    key = f"v/{RUN}range/seg.m4s"
    body = bytes(range(256)) * 400
    edge["store"].put_bytes("vod", key, body, content_type="video/iso.segment", cache_control=SEGMENT_CC)

    async def main():
        async with h3(edge, "::1") as c:
            return [
                await c.request("GET", f"/vod/{key}", {"range": "bytes=100-199"}),
                await c.request("GET", f"/vod/{key}", {"range": "bytes=-1000"}),
                await c.request("GET", f"/vod/{key}", {"range": "bytes=999999-"}),
                await c.request("HEAD", f"/vod/{key}"),
                await c.request("OPTIONS", f"/vod/{key}", {"origin": "http://localhost:3000",
                                                          "access-control-request-method": "GET",
                                                          "access-control-request-headers": "range"}),
                await c.request("GET", "/player/"),
                await c.request("GET", "/player/hls.min.js"),
                await c.request("GET", "/player/../../etc/passwd"),
                await c.request("GET", "/player/%2e%2e/%2e%2e/etc/passwd"),
                await c.request("POST", "/admin/purge/x", {"origin": "http://localhost:3000"}),
                await c.request("BREW", f"/vod/{key}"),
                await c.request("GET", "/vod/" + "x" * 5000),
            ]

    part, suffix, unsat, head, pre, index, js, trav, trav2, csrf, brew, huge = asyncio.run(main())
    assert part[0] == 206 and part[2] == body[100:200] and part[1]["content-range"] == f"bytes 100-199/{len(body)}"
    assert suffix[0] == 206 and suffix[2] == body[-1000:]
    assert unsat[0] == 416 and unsat[1]["content-range"] == f"bytes */{len(body)}"
    assert head[0] == 200 and head[2] == b"" and head[1]["accept-ranges"] == "bytes"
    assert "content-length" not in head[1]  # aioquic clients would refuse it (see cdn_sim.transport)
    assert pre[0] == 204 and "Range" in pre[1]["access-control-allow-headers"]
    assert pre[1]["access-control-allow-origin"] == "*"
    assert index[0] == 200 and index[1]["content-type"] == "text/html; charset=utf-8"
    assert js[0] == 200 and js[1]["content-type"].startswith("text/javascript")
    assert js[1]["access-control-allow-origin"] == "*"
    assert trav[0] == 400 and trav2[0] == 400
    assert csrf[0] == 403 and brew[0] == 405 and huge[0] == 414


def test_tcp_listener_speaks_tls_and_clear_text_and_refuses_hostile_requests(edge):
    port = edge["port"]
    ok = asyncio.run(http1(port, b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
                           tls_cafile=edge["cafile"]))
    assert ok.startswith(b"HTTP/1.1 200") and f'alt-svc: h3=":{port}"'.encode() in ok
    rng = asyncio.run(http1(port, b"GET /vod/x HTTP/1.1\r\nrange: bytes=zz\r\nconnection: close\r\n\r\n"))
    assert rng.startswith(b"HTTP/1.1 404")  # no such object: the range is never looked at
    key = f"v/{RUN}tcp/seg.m4s"
    edge["store"].put_bytes("vod", key, b"t" * 5000, content_type="video/iso.segment", cache_control=SEGMENT_CC)
    cases = {
        f"GET /vod/{key} HTTP/1.1\r\nrange: bytes=zz\r\nconnection: close\r\n\r\n".encode(): b"HTTP/1.1 416",
        f"GET /vod/{key} HTTP/1.1\r\nrange: bytes=10-19\r\nconnection: close\r\n\r\n".encode(): b"HTTP/1.1 206",
        b"BREW /pot HTTP/1.1\r\nconnection: close\r\n\r\n": b"HTTP/1.1 405",
        b"GET /healthz HTTP/1.1\r\nx-big: " + b"a" * 20_000 + b"\r\n\r\n": b"HTTP/1.1 431",
        b"POST /admin/push HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n": b"HTTP/1.1 501",
        b"GARBAGE\r\n\r\n": b"HTTP/1.1 400",
        b"GET / HTTP/3.0\r\n\r\n": b"HTTP/1.1 505",
    }
    cont = asyncio.run(http1(port, b"POST /admin/pops/eu-1/up HTTP/1.1\r\nexpect: 100-continue\r\n"
                                   b"content-length: 2\r\nconnection: close\r\n\r\n{}"))
    assert cont.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200")
    for raw, expected in cases.items():
        assert asyncio.run(http1(port, raw)).startswith(expected), raw[:60]
    head = asyncio.run(http1(port, f"HEAD /vod/{key} HTTP/1.1\r\nconnection: close\r\n\r\n".encode()))
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 5000\r\n" in head and head.endswith(b"\r\n\r\n")
    tail = asyncio.run(http1(port, f"GET /vod/{key} HTTP/1.1\r\nrange: bytes=-10\r\nconnection: close\r\n\r\n"
                                   .encode())).partition(b"\r\n\r\n")[2]
    assert tail == b"t" * 10


def test_ipv6_loopback_is_served(edge):
    async def main():
        async with h3(edge, "::1") as c:
            return await c.request("GET", "/healthz")

    assert asyncio.run(main())[0] == 200
    assert Path(edge["cafile"]).exists()


# -- HTTP/1.1 against hostile clients (h11 parses; cdn_sim.transport adds the edge's limits) --------------


def http1_responses(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each response in ``raw``, in order; the edge frames every body by content-length."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines)}
        length = int(headers.get(b"content-length", b"0"))
        out.append((int(status_line.split()[1]), rest[:length]))
        raw = rest[length:]
    return out


@pytest.mark.parametrize("line", [b"GET /healthz HTTP/1.1 extra", b"GET  /healthz HTTP/1.1", b"GET /healthz",
                                  b"GET\t/healthz HTTP/1.1", b"G{T /healthz HTTP/1.1", b"GET /heal\x7fthz HTTP/1.1",
                                  b"GET /healthz HTTP/1.1\x00", b" GET /healthz HTTP/1.1"])
def test_http1_malformed_request_line_gets_400_and_the_connection_closes(edge, line):
    raw = asyncio.run(http1(edge["port"], line + b"\r\nhost: x\r\n\r\nGET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"))
    assert [status for status, _ in http1_responses(raw)] == [400], raw  # read to EOF: closed, nothing after


def test_http1_oversized_header_block_gets_431(edge):
    port = edge["port"]
    pad = b"".join(b"x-pad-%03d: %s\r\n" % (i, b"v" * 40) for i in range(400))  # 22 KB of unremarkable headers
    whole = asyncio.run(http1(port, b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + pad + b"\r\n"))
    assert http1_responses(whole) == [(431, b"")]
    just_under = b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-pad: " + b"v" * 16_000 + b"\r\n\r\n"
    assert asyncio.run(http1(port, just_under)).startswith(b"HTTP/1.1 200 ")

    async def never_ending():  # no blank line ever comes: refused once more than 16 KiB wait unparsed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + b"x-pad: " + b"v" * 17_000 + b"\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return data

    assert asyncio.run(never_ending()).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("header", [b"bad name: v", b"x(y): v", b"x-a : v", b": v", b"\xffname: v", b"no colon",
                                    b"x\x00y: v", b"x-ok: v\x00w"])
def test_http1_invalid_header_line_gets_400(edge, header):
    raw = asyncio.run(http1(edge["port"], b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + header + b"\r\n\r\n"))
    assert [status for status, _ in http1_responses(raw)] == [400], header


@pytest.mark.parametrize("framing,status", [
    (b"content-length: %d\r\ntransfer-encoding: chunked", 400),  # CL.TE
    (b"Transfer-Encoding: chunked\r\nContent-Length: %d", 400),  # TE.CL
    (b"content-length: %d\r\ntransfer-encoding: xchunked", 501),  # obfuscated: an unknown coding, never parsed
    (b"content-length: %d\r\ntransfer-encoding: chunked\r\ntransfer-encoding: identity", 501),
])
def test_http1_request_smuggling_is_refused_and_nothing_smuggled_is_served(edge, framing, status):
    key = f"v/{RUN}smuggle/seg.m4s"
    edge["store"].put_bytes("vod", key, b"s" * 100, content_type="video/iso.segment", cache_control=SEGMENT_CC)
    smuggled = f"GET /vod/{key} HTTP/1.1\r\nhost: x\r\n\r\n".encode()
    body = b"0\r\n\r\n" + smuggled  # a chunked reader ends at 0 and takes the GET for a second request
    raw = asyncio.run(http1(edge["port"], b"POST /admin/pops/eu-1/down HTTP/1.1\r\nhost: x\r\n"
                                          + framing % len(body) + b"\r\n\r\n" + body))
    assert [s for s, _ in http1_responses(raw)] == [status], raw
    assert f"vod/{key}" not in edge["origin"].calls
    assert on_edge_loop(edge, lambda: edge["app"].cdn.status()["down"]) == []  # nor was the POST itself


def test_http1_pipelined_gets_are_answered_in_order(edge):
    first, second = f"v/{RUN}pipe/a.m4s", f"v/{RUN}pipe/b.m4s"
    for key, fill in ((first, b"a"), (second, b"b")):
        edge["store"].put_bytes("vod", key, fill * 3000, content_type="video/iso.segment", cache_control=SEGMENT_CC)
    raw = asyncio.run(http1(edge["port"], (f"GET /vod/{first} HTTP/1.1\r\nhost: x\r\n\r\n"  # a miss: slower
                                           "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"  # instant
                                           f"GET /vod/{second} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
                                           ).encode()))
    assert http1_responses(raw) == [(200, b"a" * 3000), (200, b"ok\n"), (200, b"b" * 3000)]


def test_http1_clients_hanging_up_mid_headers_do_not_stop_the_listener(edge):
    port = edge["port"]
    partial = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-half: "

    async def main():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # sends FIN half-way through a header
        writer.write(partial)
        writer.write_eof()
        half_closed = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        with socket.create_connection(("127.0.0.1", port)) as rude:  # and one that resets instead
            rude.sendall(partial)
            rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        _, silent = await asyncio.open_connection("127.0.0.1", port)  # and one that just stops, still connected
        silent.write(partial)
        await silent.drain()
        try:
            return half_closed, await http1(port, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        finally:
            silent.close()

    half_closed, ok = asyncio.run(main())
    assert half_closed == b""  # closed without an answer nobody could act on
    assert http1_responses(ok) == [(200, b"ok\n")]
    assert asyncio.run(http1(port, b"GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n")).startswith(b"HTTP/1.1 200")


# -- the admin token -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_edge(settings, store, tmp_path_factory):
    """The edge as ``reelflow edge serve`` runs it (run_edge, real S3 origin) with an admin token, listening
    on loopback and, where the host has one, a non-loopback address, as a container's is to its neighbours."""
    port = free_port()
    cert_dir = tmp_path_factory.mktemp("certs-guarded")
    origin = OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    hosts = ("127.0.0.1", "::1") + ((HOST_IP,) if HOST_IP else ())
    with serving_in_thread(lambda ready: run_edge(origin, buckets=(settings.vod_bucket,), hosts=hosts, port=port,
                                                  cert_dir=cert_dir, cache_bytes=50_000_000, ready=ready,
                                                  static_dir=None, admin_token=ADMIN_TOKEN)):
        yield {"port": port, "cafile": str(cert_dir / "edge-cert.pem"), "store": store}


def _admin_call(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                host: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    lines = [f"{method} {path} HTTP/1.1", "host: edge", "content-length: 0", "connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    raw = asyncio.run(http1(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), host=host))
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), {k.lower(): v.strip() for k, _, v in
                                         (h.partition(":") for h in header_lines)}, body


def test_with_an_admin_token_every_admin_call_needs_it_loopback_included(guarded_edge):
    port = guarded_edge["port"]
    status, headers, body = _admin_call(port, "POST", "/admin/pops/eu-1/up")
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="reelflow-edge-admin"'
    assert b"Authorization: Bearer" in body
    for wrong in (f"Bearer {ADMIN_TOKEN}x", f"Bearer {ADMIN_TOKEN[:-1]}", "Bearer x", f"bearer {ADMIN_TOKEN[1:]}"):
        status, headers, body = _admin_call(port, "POST", "/admin/pops/eu-1/up", {"authorization": wrong})
        assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"], wrong
        assert body == b"the admin token is wrong\n"
    for unusable in (f"Basic {ADMIN_TOKEN}", "Bearer", ADMIN_TOKEN):  # no Bearer credential: a plain challenge
        status, headers, _ = _admin_call(port, "POST", "/admin/pops/eu-1/up", {"authorization": unusable})
        assert status == 401 and "error=" not in headers["www-authenticate"], unusable
    assert _admin_call(port, "GET", "/admin/cdn")[0] == 401  # reads too: the status names POPs and tiers
    right = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    status, _, body = _admin_call(port, "POST", "/admin/pops/eu-1/down", right)
    assert status == 200 and json.loads(body)["down"] == ["eu-1"]
    assert _admin_call(port, "POST", "/admin/pops/eu-1/up", {"authorization": f"bearer  {ADMIN_TOKEN} "})[0] == 200
    assert json.loads(_admin_call(port, "GET", "/admin/cdn", right)[2])["down"] == []
    # A page in a browser cannot be let in by a token either (it would not have it, but Origin says "browser").
    assert _admin_call(port, "POST", "/admin/pops/eu-1/up", {**right, "origin": "http://localhost:3000"})[0] == 403
    # Objects and health need no token.
    assert _admin_call(port, "GET", "/healthz")[0] == 200

    async def over_h3():
        async with h3(guarded_edge, "::1") as c:
            return [await c.request("POST", "/admin/pops/eu-2/up"),
                    await c.request("POST", "/admin/pops/eu-2/up", {"authorization": "Bearer nope-nope-nope-nope"}),
                    await c.request("POST", "/admin/pops/eu-2/up", right)]

    missing, wrong, ok = asyncio.run(over_h3())
    assert missing[0] == 401 and missing[1]["www-authenticate"].startswith("Bearer ")
    assert wrong[0] == 401 and ok[0] == 200


def _segment_status(edge: dict, path: str) -> tuple[int, str | None]:
    async def get():
        async with h3_connect(f"https://localhost:{edge['port']}/", cafile=edge["cafile"]) as c:
            r = await c.get(path)
            return r.status, r.headers.get("x-cache")
    return asyncio.run(get())


@needs_host_ip
def test_purge_with_the_token_from_a_non_loopback_peer_then_the_edge_answers_404(guarded_edge, settings):
    """The compose case: the API purges from another address. Only the right token gets the purge through,
    and after it the edge stops serving the deleted video's cached bytes."""
    video = f"{RUN}tokp"
    store = guarded_edge["store"]
    key = f"v/{video}/p/360p/seg00001.m4s"
    store.put_bytes(settings.vod_bucket, key, b"T" * 20_000, content_type="video/iso.segment",
                    cache_control=SEGMENT_CC)
    path = f"/{settings.vod_bucket}/{key}"
    assert _segment_status(guarded_edge, path) == (200, "MISS")
    assert _segment_status(guarded_edge, path) == (200, "HIT")
    # The delete's first half (origin) alone leaves the cached copy served: the purge is what removes it.
    removed = OriginTarget(store, settings.raw_bucket, settings.vod_bucket).remove(video)
    assert removed == 1 and _segment_status(guarded_edge, path) == (200, "HIT")

    admin_url = f"http://{HOST_IP}:{guarded_edge['port']}"
    with pytest.raises(PurgeFailed, match=r"401.*need Authorization: Bearer.*REELFLOW_EDGE_ADMIN_TOKEN.*not set"):
        EdgePurger(admin_url, token="").purge_video(video)
    with pytest.raises(PurgeFailed, match=r"401.*admin token is wrong.*must be the same"):
        EdgePurger(admin_url, token="not-the-admin-token-at-all").purge_video(video)
    assert _segment_status(guarded_edge, path) == (200, "HIT")  # refused purges removed nothing
    EdgePurger(admin_url, token=ADMIN_TOKEN).purge_video(video)
    assert _segment_status(guarded_edge, path) == (404, None)


@needs_host_ip
def test_without_a_token_a_non_loopback_peer_is_refused_even_with_one(edge):
    """No token configured: today's rule, loopback only. A token sent anyway grants nothing."""
    port = edge["port"]
    for headers in ({}, {"authorization": f"Bearer {ADMIN_TOKEN}"}):
        status, _, body = _admin_call(port, "POST", "/admin/pops/eu-1/up", headers, host=HOST_IP)
        assert status == 403 and b"loopback clients only" in body and b"REELFLOW_EDGE_ADMIN_TOKEN" in body
    with pytest.raises(PurgeFailed, match="403"):
        EdgePurger(f"http://{HOST_IP}:{port}", token=ADMIN_TOKEN).purge_video(f"{RUN}nope")

    async def over_h3():
        async with h3(edge, HOST_IP) as c:
            return await c.request("POST", "/admin/pops/eu-1/up")

    assert asyncio.run(over_h3())[0] == 403
    assert _admin_call(port, "POST", "/admin/pops/eu-1/up")[0] == 200  # loopback still may, without a token


def test_an_unusable_admin_token_is_refused_at_start():
    with pytest.raises(ValueError, match="at least 16 characters"):
        build_app(_no_origin, ("vod",), 1000, admin_token="short")
    with pytest.raises(ValueError, match="only letters"):
        build_app(_no_origin, ("vod",), 1000, admin_token="with space and newline\n" * 2)


async def _no_origin(key: str):
    raise AssertionError(f"no origin fetch expected ({key})")
