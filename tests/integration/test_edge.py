"""The edge over real aioquic connections (127.0.0.1 and ::1) in front of the real S3 origin."""

import asyncio
from pathlib import Path

import pytest

from adapters.s3 import OriginConfig
from delivery.h3client import h3_connect
from reelflow.edge import run_edge
from tests.background import serving_in_thread
from tests.conftest import free_port


@pytest.fixture(scope="module")
def edge(settings, store, tmp_path_factory):
    port = free_port()
    cert_dir = tmp_path_factory.mktemp("certs")
    store.put_bytes("vod", "edge/t/seg.m4s", b"S" * 300_000, content_type="video/iso.segment",
                    cache_control="public, max-age=31536000, immutable")
    store.put_bytes("vod", "edge/t/index.m3u8", b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl",
                    cache_control="public, max-age=60")
    origin = OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    with serving_in_thread(lambda ready: run_edge(origin, buckets=("vod",), hosts=("127.0.0.1", "::1"), port=port,
                                                  cert_dir=cert_dir, cache_bytes=50_000_000, ready=ready)):
        yield {"port": port, "cafile": str(cert_dir / "edge-cert.pem")}


@pytest.mark.parametrize("host", ["localhost", "[::1]"])
def test_h3_get_miss_then_hit_with_origin_headers(edge, host):
    async def main():
        async with h3_connect(f"https://{host}:{edge['port']}/", cafile=edge["cafile"]) as c:
            first = await c.get("/vod/edge/t/seg.m4s")
            second = await c.get("/vod/edge/t/seg.m4s")
            playlist = await c.get("/vod/edge/t/index.m3u8")
            return first, second, playlist

    first, second, playlist = asyncio.run(main())
    assert first.status == 200 and first.body == b"S" * 300_000
    assert first.headers["content-type"] == "video/iso.segment"
    assert "immutable" in first.headers["cache-control"]
    assert second.headers["x-cache"] == "HIT"
    assert playlist.headers["cache-control"] == "public, max-age=60"
    assert playlist.headers["access-control-allow-origin"] == "*"


def test_h3_not_found_bad_paths_and_methods(edge):
    async def main():
        async with h3_connect(f"https://localhost:{edge['port']}/", cafile=edge["cafile"]) as c:
            return [(await c.get(p)).status for p in
                    ("/vod/edge/none", "/raw/uploads/x/source", "/vod/../raw/x", "/nothing", "/healthz")]

    assert asyncio.run(main()) == [404, 404, 400, 404, 200]  # dot segments are refused outright


def test_untrusted_certificate_is_refused(edge, tmp_path: Path):
    from cdn_sim.certs import ensure_certificate

    other, _ = ensure_certificate(tmp_path / "other")

    async def main():
        async with h3_connect(f"https://localhost:{edge['port']}/", cafile=str(other), idle_timeout_s=3) as c:
            await c.get("/healthz", timeout_s=3)

    with pytest.raises((ConnectionError, TimeoutError, asyncio.TimeoutError)):
        asyncio.run(main())


def test_tcp_listener_advertises_h3(edge):
    async def main():
        reader, writer = await asyncio.open_connection("127.0.0.1", edge["port"])
        writer.write(b"GET /vod/edge/t/index.m3u8 HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        data = await reader.read()
        writer.close()
        return data

    head, _, body = asyncio.run(main()).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert f'alt-svc: h3=":{edge["port"]}"'.encode() in head
    assert body == b"#EXTM3U\n"
