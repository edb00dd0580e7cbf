"""The web app end to end on the live stack (`reelflow stack up`: Airflow ingest, the API behind the edge):
a creator signs up and logs in, uploads a clip through the page and sees it become playable; a viewer finds
it by searching a misspelled word of its caption, swipes the feed and likes a video; the like arrives in
the creator's notifications (a second browser context). Every media response came over HTTP/3.

A second video, uploaded through the API with the same hashtag, gives the viewer's hashtag feed something to
swipe to.
"""

from __future__ import annotations

import pytest

from cdn_sim.certs import spki_pin
from media.samples import make_clip
from reelflow.creator_client import ReelflowClient
from reelflow.stack import Stack
from tests.chromium import CHROMIUM
from tests.e2e.test_whole_path import stack  # noqa: F401 - the live-stack fixture
from tests.integration.feed_helpers import word

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")]
MEDIA = (".m3u8", ".m4s", ".mp4", ".m4a")


def test_sign_up_upload_search_swipe_like_and_notify(stack: Stack, tmp_path):  # noqa: F811
    s = stack.s
    port = s.edge_port
    pin = spki_pin(s.home.expanduser().resolve() / "certs" / "edge-cert.pem")
    base = stack.app_url().rstrip("/")
    secret_word = f"zephyr{word(4)}"
    clip = make_clip(tmp_path / "clip.mp4", width=640, height=360, seconds=4.0, pattern="life", crf=18)
    tag = f"e2eweb{word(6)}"
    other = make_clip(tmp_path / "other.mp4", width=640, height=360, seconds=4.0, pattern="mandelbrot")
    other_video = ReelflowClient(s.api_url).upload(other, caption="the other one", hashtags=[tag])
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
            "--enable-quic", f"--origin-to-force-quic-on=localhost:{port}",
            f"--ignore-certificate-errors-spki-list={pin}"])
        responses: list[dict] = []

        def context():
            ctx = browser.new_context(viewport={"width": 412, "height": 860})
            page = ctx.new_page()
            cdp = ctx.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.on("Network.responseReceived", lambda e: responses.append(e["response"]))
            return ctx, page

        creator_ctx, creator = context()
        handle, password = f"cr_{word(8)}", "correct horse battery"
        creator.goto(base + "/app/signup")
        creator.get_by_label("Handle", exact=True).fill(handle)
        creator.get_by_label("Password", exact=True).fill(password)
        creator.get_by_role("button", name="Create account").click()
        creator.wait_for_url(base + "/")
        creator.goto(base + "/app/logout")
        creator.wait_for_url("**/app/login")
        creator.get_by_label("Handle", exact=True).fill(handle)
        creator.get_by_label("Password", exact=True).fill(password)
        creator.get_by_role("button", name="Log in").click()
        creator.wait_for_url(base + "/")

        creator.goto(base + "/app/upload")
        creator.set_input_files("input[type=file]", str(clip))
        creator.fill("textarea[name=caption]", f"a {secret_word} glider gun")
        creator.fill("input[name=hashtags]", tag)
        creator.get_by_role("button", name="Upload").click()
        creator.wait_for_selector("ol.steps li[data-kind=playable]", timeout=180_000)
        creator.wait_for_function("document.querySelector('.page video')?.currentTime > 0.5", timeout=60_000)
        vid = creator.evaluate("document.body.dataset.uploadedVideo")
        creator.wait_for_selector("ol.steps li[data-kind=ready]", timeout=240_000)

        viewer_ctx, viewer = context()
        viewer.goto(base + "/app/signup")
        handle_of_viewer = f"vw_{word(8)}"
        viewer.get_by_label("Handle", exact=True).fill(handle_of_viewer)
        viewer.get_by_label("Password", exact=True).fill(password)
        viewer.get_by_role("button", name="Create account").click()
        viewer.wait_for_url(base + "/")
        # The search dictionary is refreshed by the refresh_search DAG; search the caption with a typo.
        typo = secret_word[:2] + secret_word[3] + secret_word[2] + secret_word[4:]
        viewer.goto(base + "/app/search")
        viewer.get_by_role("combobox", name="Search").press_sequentially(typo, delay=40)
        viewer.wait_for_selector(f"a[data-video-id='{vid}']", timeout=120_000)
        viewer.click(f"a[data-video-id='{vid}']")
        viewer.wait_for_function("window.reelflow?.feed?.cards?.[0]?.video.currentTime > 0.5", timeout=30_000)
        viewer.locator(f".card[data-video-id='{vid}'] .like").click()
        viewer.wait_for_function(f"document.querySelector(\".card[data-video-id='{vid}'] .like\")"
                                 ".getAttribute('aria-pressed') === 'true'")

        # The hashtag's feed holds both videos: swipe to the other one and back, each plays.
        assert ReelflowClient(s.api_url).wait_settled(other_video["id"], timeout_s=300)["state"] == "ready"
        viewer.goto(f"{base}/app/tag/{tag}")
        viewer.wait_for_function("window.reelflow?.feed?.cards?.length === 2", timeout=30_000)
        viewer.wait_for_function("window.reelflow.feed.cards[0].video.currentTime > 0.5", timeout=30_000)
        viewer.keyboard.press("ArrowDown")
        viewer.wait_for_function("window.reelflow.feed.active === 1", timeout=10_000)
        viewer.wait_for_function("window.reelflow.feed.cards[1].video.currentTime > 0.5", timeout=30_000)
        viewer.keyboard.press("ArrowUp")
        viewer.wait_for_function("window.reelflow.feed.active === 0", timeout=10_000)

        creator.goto(base + "/app/inbox")
        creator.wait_for_selector("#notifications li[data-kind=video_liked]", timeout=30_000)
        assert handle_of_viewer in creator.text_content("#notifications li[data-kind=video_liked]")
        assert creator.text_content("#unread")
        browser.close()
    media = [r for r in responses if r["url"].split("?")[0].endswith(MEDIA)]
    assert media and {r["protocol"] for r in media} == {"h3"}, {(r["url"][-40:], r["protocol"]) for r in media}
