"""Prefetch hints on feed cards, end to end: the API names a video's start (master, the start rung's playlist,
init and first segment, the audio's), every URL opens on the real edge (signed for a private video, whose
hints a stranger never gets), and the Python player fetches them all before the swipe.

One real package (4 s, H.264 144p/240p/360p + AAC) is published for each catalog video; the edge runs with the
catalog gate and the API's playback keys, so unsigned URLs of a private video answer 403.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from adapters.s3 import OriginConfig
from catalog import videos as repo
from catalog.db import session_scope
from cdn_sim.server import serve_app
from delivery.feed import FeedConfig, play_feed
from delivery.fetch import ConnectOptions
from delivery.h3client import h3_connect
from delivery.netem import LinkConfig, start_relay
from delivery.player import PlayerConfig
from delivery.prefetch_hints import HintRung, StartHint, start_keys
from jobs.publish import publish_package
from media.ladder import LadderConfig
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip
from reelflow.edge import build_app
from tests.background import serving_in_thread
from tests.conftest import RUN_TAG, free_port
from tests.integration.feed_helpers import Person, clear_live_keys, make_client, word

# Cards here name this module's edge: keep them out of the card cache other modules' apps read.
OWN_REDIS_PREFIX = f"rftest{RUN_TAG}hints:"


@pytest.fixture(scope="module", autouse=True)
def _own_live_keys(settings):
    yield
    clear_live_keys(settings.model_copy(update={"redis_prefix": OWN_REDIS_PREFIX}))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    work = tmp_path_factory.mktemp("hint-pkg")
    src = make_clip(work / "src.mp4", width=640, height=360, seconds=4.0, audio=True)
    return package_hls(src, work / "pkg", probe(src), ladder=LadderConfig(short_sides=(144, 240, 360)),
                       codecs=("h264",), preset="ultrafast")


@pytest.fixture(scope="module")
def edge(settings, tmp_path_factory):
    port = free_port()
    cert_dir = tmp_path_factory.mktemp("hint-certs")
    origin = OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    app = build_app(origin, (settings.vod_bucket,), 50_000_000, catalog_url=settings.database_url,
                    playback_keys=settings.playback_keys)
    with serving_in_thread(lambda ready: serve_app(app, hosts=("127.0.0.1",), port=port, cert_dir=cert_dir,
                                                   ready=ready)):
        yield {"port": port, "cafile": str(cert_dir / "edge-cert.pem"), "url": f"https://localhost:{port}"}


@pytest.fixture()
def api(settings, edge):
    with make_client(settings, redis_prefix=OWN_REDIS_PREFIX, edge_public_url=edge["url"]) as client:
        yield client


def _publish(sessions, store, settings, package, creator: str, tag: str, privacy: str) -> str:
    """A catalog video served from a real publication, with its renditions recorded as ingest records them."""
    with session_scope(sessions) as s:
        vid = repo.create_video(s, caption=f"hinted #{tag}", hashtags=[tag], creator_id=creator, privacy=privacy).id
        repo.start_processing(s, vid, run_id="hints")
    prefix = f"v/{vid}/p1"
    result = publish_package(store, package.directory, settings.vod_bucket, prefix)
    renditions = [repo.RenditionRecord(name=r.name, kind=r.kind, codecs=r.codecs, encoder=r.encoder, width=r.width,
                                       height=r.height, bandwidth=r.peak_bps, average_bandwidth=r.average_bps,
                                       playlist_key=f"{prefix}/{r.playlist}") for r in package.summaries()]
    with session_scope(sessions) as s:
        repo.mark_ready(s, vid, publish_prefix=prefix, master_key=result.master_key, renditions=renditions)
    return vid


def _get_all(edge: dict, urls: list[str]) -> list:
    async def main():
        async with h3_connect(edge["url"] + "/", cafile=edge["cafile"]) as c:
            return [await c.get(urlsplit(u).path) for u in urls]
    return asyncio.run(main())


def _urls(prefetch: dict) -> list[str]:
    hint = StartHint.from_card(prefetch)
    assert hint is not None and hint.audio is not None
    return hint.urls()


def test_a_public_card_names_the_start_rung_and_every_url_opens_on_the_edge(api, sessions, store, settings,
                                                                          package, edge):
    creator, viewer = Person(api), Person(api)
    tag = f"hint{word(8)}"
    vid = _publish(sessions, store, settings, package, creator.id, tag, "public")
    page = api.get("/v1/feed", params={"type": "hashtag", "tag": tag}, headers=viewer.headers)
    assert page.status_code == 200, page.text
    [item] = page.json()["items"]
    hint = item["prefetch"]
    # The ABR's start rule at 1 Mbit/s over these rungs: the richest whose video + audio peak fits 0.8 Mbit/s.
    rungs = [HintRung(r.kind, r.codecs, r.peak_bps, r.playlist) for r in package.summaries()]
    expected = start_keys("master.m3u8", rungs)
    assert expected is not None
    assert hint["master_url"] == item["playback_url"]
    assert hint["rendition_url"].endswith(expected["video"]["playlist"])
    assert hint["bandwidth"] == expected["bandwidth"] <= 800_000
    assert hint["init_url"].endswith("/init.mp4") and hint["first_segment_url"].endswith("/seg_00000.m4s")
    assert f"/{vid}/" in hint["rendition_url"] and "/t/" not in hint["rendition_url"]
    answers = _get_all(edge, _urls(hint))
    assert [r.status for r in answers] == [200] * 7
    assert b"moof" in answers[3].body[:256]  # a media segment


def test_a_private_videos_hints_are_signed_for_its_creator_and_a_stranger_gets_none(api, sessions, store, settings,
                                                                                   package, edge):
    creator, stranger = Person(api), Person(api)
    tag = f"hint{word(8)}"
    vid = _publish(sessions, store, settings, package, creator.id, tag, "private")
    own = api.get(f"/v1/users/{creator.id}/videos", headers=creator.headers)
    assert own.status_code == 200, own.text
    [item] = [i for i in own.json()["items"] if i["id"] == vid]
    urls = _urls(item["prefetch"])
    token = urlsplit(item["playback_url"]).path.split("/")[2]
    assert all(urlsplit(u).path.startswith(f"/t/{token}/") for u in urls)  # one token for the whole card
    assert [r.status for r in _get_all(edge, urls)] == [200] * 7
    unsigned = [u.replace(f"/t/{token}", "") for u in urls]
    assert {r.status for r in _get_all(edge, unsigned)} == {403}
    # A stranger finds the video nowhere, so no hint of it either.
    theirs = api.get(f"/v1/users/{creator.id}/videos", headers=stranger.headers).json()["items"]
    tagged = api.get("/v1/feed", params={"type": "hashtag", "tag": tag}, headers=stranger.headers).json()["items"]
    for_you = api.get("/v1/feed", params={"limit": 50}, headers=stranger.headers).json()["items"]
    assert vid not in {i["id"] for i in theirs + tagged + for_you}
    assert token not in str(theirs + tagged + for_you)
    assert api.get(f"/v1/videos/{vid}", headers=stranger.headers).status_code == 404


def test_the_player_fetches_every_hinted_object_before_the_swipe(api, sessions, store, settings, package, edge):
    creator, viewer = Person(api), Person(api)
    tag = f"hint{word(8)}"
    vids = [_publish(sessions, store, settings, package, creator.id, tag, "public") for _ in range(3)]
    items = api.get("/v1/feed", params={"type": "hashtag", "tag": tag}, headers=viewer.headers).json()["items"]
    assert {i["id"] for i in items} == set(vids)
    urls = [i["playback_url"] for i in items]
    hints = [StartHint.from_card(i["prefetch"]) for i in items]

    async def play(options):
        return await play_feed(urls, config=PlayerConfig(watch_s=2.0, speed=2.0), options=options, hints=hints,
                               feed=FeedConfig(prefetch_depth=1))

    async def through_relay():
        link = LinkConfig.from_path(rtt_ms=50)
        async with start_relay(("127.0.0.1", edge["port"]), uplink=link, downlink=link) as relay:
            return await play(ConnectOptions(cafile=edge["cafile"], via={f"localhost:{edge['port']}": relay.address}))

    report = asyncio.run(through_relay())
    print("\n" + "\n".join(report.lines()))
    for i in (1, 2):
        hint = hints[i]
        assert hint is not None
        before = [r for r in report.requests if not r.foreground and r.finished_at < report.swipes[i]
                  and f"/{items[i]['id']}/" in r.path]
        asked = {r.path for r in before if r.source == "network"}
        # Every object of the hinted start, and nothing of another rung, was fetched before the swipe.
        assert asked == {urlsplit(u).path for u in hint.urls()}, sorted(asked)
        session = report.sessions[i]
        assert session.prefetch == "full" and session.startup_s < 0.050  # from the cache: no round trip
