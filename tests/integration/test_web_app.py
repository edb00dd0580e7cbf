"""The web app in real Chromium over HTTP/3 (Python playwright driving Debian's /usr/bin/chromium; no browser
download): the edge serves the app and forwards /v1 to a real API (uvicorn) over the test services, ingest runs
in-process. Feed swipes play through hls.js over h3 with the next videos prefetched; search as you type finds a
misspelled word; an upload goes up in parts with a progress bar, its status arrives over SSE and it plays; the
studio draws its charts. Screenshots land in a temporary folder, or in $REELFLOW_SCREENSHOTS (the README's
screenshots: REELFLOW_SCREENSHOTS=docs/screenshots).

Development tokens stand in for accounts here (the accounts API is built elsewhere); tests/e2e/test_web_app.py
runs sign-up, login and notifications against the live stack.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from adapters.s3 import OriginConfig
from catalog import search as catalog_search
from catalog.db import session_scope
from cdn_sim.certs import ensure_certificate, spki_pin
from feed_api.app import create_app
from jobs.ingest import run_inline
from jobs.publish import publish_package
from media.ladder import LadderConfig
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip
from reelflow.edge import run_edge
from tests.background import serving_in_thread, uvicorn_serving
from tests.chromium import CHROMIUM
from tests.conftest import free_port
from tests.integration.feed_helpers import ready_video, word

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (./dev setup installs it)")

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("REELFLOW_SCREENSHOTS") or Path(tempfile.gettempdir()) / "reelflow-screenshots")
MEDIA = (".m3u8", ".m4s", ".mp4", ".m4a")


class InlinePipeline:
    """Ingest in a thread of this process instead of Airflow (the same steps, jobs.ingest.run_inline)."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def trigger_ingest(self, video_id: str) -> str:
        run_id = f"inline-{uuid.uuid4().hex[:8]}"

        def run() -> None:
            time.sleep(0.5)  # the API commits "processing" after triggering
            run_inline(self.settings, video_id, run_id)
        threading.Thread(target=run, daemon=True).start()
        return run_id


@pytest.fixture(scope="module")
def site(settings, store, catalog_url, sessions, tmp_path_factory):
    assert (REPO / "cdn_sim/web/node_modules/hls.js/dist/hls.mjs").exists(), "run ./dev setup (npm ci)"
    edge_port, api_port, cert_dir = free_port(), free_port(), tmp_path_factory.mktemp("certs")
    ensure_certificate(cert_dir)
    cfg = settings.model_copy(update={
        "database_url": catalog_url, "dev_auth": True, "edge_public_url": f"https://localhost:{edge_port}",
        "codecs": ["h264"], "ladder_short_sides": [240, 360], "feed_ranker": False,
        "rate_limit_per_s": 10_000.0, "rate_limit_burst": 10_000,
        "multipart_threshold_bytes": 2**20, "multipart_part_bytes": 5 * 2**20})
    api = create_app(cfg, pipeline=InlinePipeline(cfg))

    # open event streams (the inbox's) must not hold up teardown
    serve_api = uvicorn_serving(api, api_port, timeout_graceful_shutdown=2)
    origin = OriginConfig(cfg.s3_endpoint, cfg.s3_access_key, cfg.s3_secret_key)
    # Three published videos under one fresh hashtag: a feed of real HLS to swipe.
    d = tmp_path_factory.mktemp("webapp")
    tag, caption_word = f"t{word(8)}", f"aurora{word(4)}"
    clip = make_clip(d / "clip.mp4", width=480, height=270, seconds=6.0, pattern="mandelbrot")
    package_hls(clip, d / "hls", probe(clip), ladder=LadderConfig(short_sides=(240,)), codecs=("h264",))
    with serving_in_thread(serve_api), serving_in_thread(lambda ready: run_edge(
            origin, buckets=("vod",), hosts=("127.0.0.1", "::1"), port=edge_port, cert_dir=cert_dir,
            cache_bytes=100_000_000, catalog_url=catalog_url, playback_keys=cfg.playback_keys,
            api_upstream=f"http://127.0.0.1:{api_port}", ready=ready)):
        api_url = f"http://127.0.0.1:{api_port}"
        owner = httpx.post(f"{api_url}/v1/auth/dev-token", json={"handle": f"c_{word(8)}"}).json()
        ids = [ready_video(sessions, owner["user_id"], tags=(tag,), hours_ago=i * 0.1) for i in range(3)]
        for vid in ids:
            publish_package(store, d / "hls", "vod", f"v/{vid}/pub1")
        with session_scope(sessions) as s:
            from catalog.models import Video
            s.get(Video, ids[0]).caption = f"northern {caption_word} over the fjord"
        with session_scope(sessions) as s:
            catalog_search.refresh_terms(s)
        yield {"port": edge_port, "url": f"https://localhost:{edge_port}", "pin": spki_pin(cert_dir / "edge-cert.pem"),
               "api": api_url, "tag": tag, "ids": ids, "word": caption_word, "dir": d}


@pytest.fixture(scope="module")
def browser(site):
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
            "--autoplay-policy=no-user-gesture-required", "--enable-quic",
            f"--origin-to-force-quic-on=localhost:{site['port']}",
            f"--ignore-certificate-errors-spki-list={site['pin']}"])
        yield b
        b.close()


class Tab:
    """A page with every response's protocol recorded (DevTools Network events: playwright has no field)."""

    def __init__(self, browser, site, *, viewport=(412, 860)) -> None:
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                           ignore_https_errors=False)
        self.page = self.context.new_page()
        self.responses: list[dict] = []
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.on("Network.responseReceived", lambda e: self.responses.append(e["response"]))
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.site = site

    def dev_sign_in(self, handle: str) -> None:
        self.page.goto(self.site["url"] + "/app/login")
        self.page.get_by_text("Developer sign-in").first.click()
        self.page.get_by_label("Handle (development stacks only, no password)").fill(handle)
        self.page.get_by_role("button", name="Developer sign-in").click()
        self.page.wait_for_function("localStorage.getItem('reelflow.session') !== null")

    def media(self) -> list[dict]:
        return [r for r in self.responses if r["url"].split("?")[0].endswith(MEDIA)]

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / name))

    def close(self) -> None:
        self.context.close()


def test_feed_swipes_play_over_h3_with_the_next_videos_prefetched(browser, site):
    tab = Tab(browser, site)
    try:
        tab.dev_sign_in(f"v_{word(8)}")
        page = tab.page
        page.goto(f"{site['url']}/app/tag/{site['tag']}")
        page.wait_for_function("window.reelflow?.feed?.cards?.length === 3", timeout=20_000)
        page.wait_for_function("window.reelflow.feed.cards[0].video.currentTime > 1", timeout=30_000)
        # The next two are attached with a small buffer before anyone swipes to them.
        assert page.evaluate("window.reelflow.feed.cards.slice(1).every(c => !!c.video._hls)")
        assert page.evaluate("window.reelflow.feed.cards[1].video._hls.config.maxBufferLength") <= 4
        page.wait_for_function("window.reelflow.feed.cards[1].video.buffered.length > 0", timeout=20_000)
        page.get_by_role("button", name="Like").first.click()
        page.wait_for_function("document.querySelector('.card .like').getAttribute('aria-pressed') === 'true'")
        tab.shot("feed.png")
        page.keyboard.press("ArrowDown")  # a swipe: scroll-snap to the next card
        page.wait_for_function("window.reelflow.feed.active === 1", timeout=10_000)
        page.wait_for_function("window.reelflow.feed.cards[1].video.currentTime > 0.5", timeout=20_000)
        assert page.evaluate("window.reelflow.feed.cards[0].video.paused")
        page.mouse.wheel(0, 900)  # and the wheel
        page.wait_for_function("window.reelflow.feed.active === 2", timeout=10_000)
        state = page.evaluate("({engine: window.reelflow.engine, errors: window.reelflow.errors})")
        # The view and progress events went to /v1/interactions through the edge.
        page.evaluate("import('/app/lib/telemetry.js').then(m => m.flush())")
        page.wait_for_timeout(300)
    finally:
        tab.close()
    assert state["engine"].startswith("hls.js"), state
    assert not [e for e in state["errors"] if e.startswith("fatal")], state["errors"]
    media = tab.media()
    assert len({r["url"] for r in media}) >= 6, [r["url"] for r in media]
    assert {r["protocol"] for r in media} == {"h3"}, {(r["url"][-40:], r["protocol"]) for r in media}
    app = [r for r in tab.responses if "/app/" in r["url"] or "/v1/" in r["url"]]
    assert app and {r["protocol"] for r in app} == {"h3"}
    assert any("/v1/interactions" in r["url"] and r["status"] == 202 for r in tab.responses)
    assert not [c for c in tab.console if c.startswith("pageerror")], tab.console


def test_search_as_you_type_finds_a_misspelled_caption_word(browser, site):
    tab = Tab(browser, site, viewport=(900, 800))
    try:
        tab.dev_sign_in(f"s_{word(8)}")
        page = tab.page
        page.goto(site["url"] + "/app/search")
        typo = site["word"][:3] + site["word"][4] + site["word"][3] + site["word"][5:]  # two letters swapped
        page.get_by_role("combobox", name="Search").press_sequentially(typo, delay=40)
        page.wait_for_selector(f"section[data-type=videos] a[data-video-id='{site['ids'][0]}']", timeout=15_000)
        corrections = page.text_content("#corrections") or ""
        hit = page.url
        tab.shot("search.png")
        suggest_calls = [r for r in tab.responses if "/v1/search/suggest" in r["url"]]
    finally:
        tab.close()
    assert site["word"] in corrections
    assert "/app/search?q=" in hit
    # Debounced: a request per pause in typing, not one per key.
    assert 1 <= len(suggest_calls) < len(typo)


def test_upload_in_parts_with_progress_then_live_status_plays_and_studio_charts(browser, site):
    clip = make_clip(site["dir"] / "upload.mp4", width=640, height=360, seconds=3.0, pattern="life", crf=0)
    assert clip.stat().st_size > 5 * 2**20  # above the part size: two parts
    tab = Tab(browser, site, viewport=(1100, 900))
    handle = f"up_{word(8)}"
    try:
        tab.dev_sign_in(handle)
        page = tab.page
        page.goto(site["url"] + "/app/upload")
        page.set_input_files("input[type=file]", str(clip))
        page.fill("textarea[name=caption]", "a glider gun from the web app")
        page.fill("input[name=hashtags]", "life, webapp")
        page.evaluate("window.progressSeen = []; setInterval(() => window.progressSeen.push("
                      "document.querySelector('progress').value), 20)")
        page.get_by_role("button", name="Upload").click()
        page.wait_for_function("document.body.dataset.uploadedVideo", timeout=60_000)
        vid = page.evaluate("document.body.dataset.uploadedVideo")
        page.wait_for_selector("ol.steps li[data-kind=playable]", timeout=120_000)
        page.wait_for_function("document.querySelector('.page video')?.currentTime > 0.5", timeout=30_000)
        progress = page.evaluate("window.progressSeen")
        page.wait_for_selector("ol.steps li[data-kind=ready]", timeout=120_000)
        tab.shot("upload.png")
        # Views of the new video from a few people, each stopping at another point: the studio's charts.
        for i, reached in enumerate((0.2, 0.5, 0.8, 1.0, 1.0)):
            tok = httpx.post(f"{site['api']}/v1/auth/dev-token", json={"handle": f"w{i}_{word(6)}"}).json()
            events = [{"video_id": vid, "kind": "view_start", "session_id": "a1"},
                      {"video_id": vid, "kind": "progress", "progress": reached, "watch_ms": int(3000 * reached),
                       "session_id": "a1"}]
            if reached == 1.0:
                events.append({"video_id": vid, "kind": "complete", "progress": 1.0, "session_id": "a1"})
            assert httpx.post(f"{site['api']}/v1/interactions", json={"events": events},
                              headers={"authorization": f"Bearer {tok['access_token']}"}).status_code == 202
        page.goto(site["url"] + "/app/studio")
        page.wait_for_selector(f"li[data-video-id='{vid}'] .state.ready", timeout=10_000)
        page.click(f"li[data-video-id='{vid}'] a")
        page.wait_for_selector("#charts figure.chart svg", timeout=10_000)
        charts = page.locator("#charts figure.chart svg").count()
        bars = page.locator("#charts rect.bar").count()
        tab.shot("studio.png")
        puts = [r for r in tab.responses if r["url"].startswith("http://127.0.0.1") and "partNumber" in r["url"]
                and {k.lower() for k in r["headers"]} & {"etag"}]  # the PUTs (the preflights carry no ETag)
    finally:
        tab.close()
    assert charts == 4 and bars == 48
    assert len(puts) == 2 and all(r["status"] == 200 for r in puts)  # straight to the store, CORS allowed
    assert any(0 < p < 1 for p in progress) and max(progress) == 1, progress[:50]
