"""Headless Chromium plays a published video from the edge over HTTP/3 with hls.js (the page the edge serves)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.s3 import OriginConfig
from cdn_sim.certs import ensure_certificate, spki_pin
from jobs.publish import publish_package
from media.ladder import LadderConfig
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip
from reelflow.edge import run_edge
from tests.background import serving_in_thread
from tests.chromium import CHROMIUM, chromium_page
from tests.conftest import free_port

WEB = Path(__file__).resolve().parents[2] / "cdn_sim" / "web"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (./dev setup installs it)")


@pytest.fixture(scope="module")
def published(store, tmp_path_factory) -> str:
    """An 8 s H.264 + AV1 ladder with audio, published to the origin the way ingest publishes it."""
    d = tmp_path_factory.mktemp("web")
    src = make_clip(d / "clip.mp4", width=640, height=360, seconds=8.0, pattern="mandelbrot")
    package_hls(src, d / "hls", probe(src), ladder=LadderConfig(short_sides=(240, 360)), codecs=("h264", "av1"))
    return publish_package(store, d / "hls", "vod", "v/webplayer/p1").master_key


@pytest.fixture(scope="module")
def edge(settings, published, tmp_path_factory):
    assert (WEB / "node_modules" / "hls.js" / "dist" / "hls.min.js").exists(), "run ./dev setup (npm ci)"
    port, cert_dir = free_port(), tmp_path_factory.mktemp("certs")
    ensure_certificate(cert_dir)
    origin = OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    with serving_in_thread(lambda ready: run_edge(origin, buckets=("vod",), hosts=("127.0.0.1", "::1"), port=port,
                                                  cert_dir=cert_dir, cache_bytes=50_000_000, ready=ready)):
        yield {"port": port, "pin": spki_pin(cert_dir / "edge-cert.pem")}


def test_chromium_plays_a_published_video_over_h3(edge, published):
    origin = f"localhost:{edge['port']}"
    url = f"https://{origin}/player/index.html?src=/vod/{published}"
    with chromium_page(quic_origins=(origin,), spki_pins=(edge["pin"],)) as page:
        page.call("Page.navigate", {"url": url})
        # Playback advances: the clock passes 3 s, i.e. beyond the first 2 s segment.
        page.wait_for("(document.getElementById('video') || {}).currentTime > 3", timeout_s=60)
        state = page.evaluate("window.reelflow")
        played = page.evaluate("document.getElementById('video').currentTime")
        responses = list(page.responses)
    assert state["engine"].startswith("hls.js"), state
    assert not [e for e in state["errors"] if "fatal" in e], state["errors"]
    assert state["fragments"] >= 2 and played > 3
    media = [r for r in responses if r["url"].endswith((".m4s", ".mp4", ".m3u8"))]
    assert media, [r["url"] for r in responses]
    assert {r["protocol"] for r in media} == {"h3"}, {(r["url"][-30:], r["protocol"]) for r in media}
    page_response = next(r for r in responses if "/player/index.html" in r["url"])
    assert page_response["protocol"] == "h3" and page_response["status"] == 200
