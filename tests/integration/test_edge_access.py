"""Who may read what at the edge, over real aioquic with the catalog gate on.

Signed playback: a private or followers-only video's objects open only with a playback token for that video,
at every POP, cached or not; public videos stay cacheable and unsigned; deleted ones answer 404. Takedown: a
reported video goes through review to removal, and is gone from every POP and every tier (the edge's purge,
from the API's outbox), its creator told why; an upheld appeal brings it back.

One real package (4 s, H.264 144p + AAC) is published under several catalog videos and served by the real
edge in front of SeaweedFS.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.s3 import OriginConfig
from catalog import videos as repo
from catalog.db import session_scope
from cdn_sim.playback_tokens import PlaybackSigner
from cdn_sim.server import serve_app
from delivery.fetch import ConnectOptions
from delivery.h3client import h3_connect
from delivery.player import PlayerConfig, play_session
from jobs.publish import publish_package
from media.ladder import LadderConfig
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip
from reelflow.edge import build_app
from tests.background import serving_in_thread
from tests.conftest import RUN_TAG, free_port
from tests.integration.feed_helpers import Person, clear_live_keys, make_client

# These apps build feed cards with this module's edge URL: they must not land in the card cache other modules'
# apps read (the catalog is shared, so these videos appear in their feeds too).
OWN_REDIS_PREFIX = f"rftest{RUN_TAG}edge:"


@pytest.fixture(scope="module", autouse=True)
def _own_live_keys(settings):
    yield
    clear_live_keys(settings.model_copy(update={"redis_prefix": OWN_REDIS_PREFIX}))


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    work = tmp_path_factory.mktemp("signed-pkg")
    src = make_clip(work / "src.mp4", width=320, height=240, seconds=4.0, audio=True)
    return package_hls(src, work / "pkg", probe(src), ladder=LadderConfig(short_sides=(144,)), codecs=("h264",),
                       preset="ultrafast")


@pytest.fixture(scope="module")
def videos(sessions, store, settings, package) -> dict[str, dict]:
    """name -> {"id", "master_key", "segment_key"}: the same package published for four catalog videos."""
    out = {}
    for name, privacy in (("public", "public"), ("private", "private"), ("followers", "followers"),
                          ("deleted", "private")):
        with session_scope(sessions) as s:
            vid = repo.create_video(s, caption=name, privacy=privacy).id
            repo.start_processing(s, vid, run_id=name)
        result = publish_package(store, package.directory, settings.vod_bucket, f"v/{vid}/p1")
        with session_scope(sessions) as s:
            repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p1", master_key=result.master_key, renditions=[])
        keys = store.list_keys(settings.vod_bucket, f"v/{vid}/p1/")
        out[name] = {"id": vid, "master_key": result.master_key,
                     "segment_key": next(k for k in sorted(keys) if k.endswith(".m4s") and "/h264/" in k)}
    return out


@pytest.fixture(scope="module")
def edge(settings, store, videos, tmp_path_factory):
    port = free_port()
    cert_dir = tmp_path_factory.mktemp("signed-certs")
    origin = OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    app = build_app(origin, (settings.vod_bucket,), 50_000_000, catalog_url=settings.database_url,
                    playback_keys=settings.playback_keys)
    with serving_in_thread(lambda ready: serve_app(app, hosts=("127.0.0.1",), port=port, cert_dir=cert_dir,
                                                   ready=ready)):
        yield {"port": port, "cafile": str(cert_dir / "edge-cert.pem"), "url": f"https://localhost:{port}",
               "app": app}


def _get_all(edge: dict, paths: list[str]) -> list:
    async def main():
        async with h3_connect(edge["url"] + "/", cafile=edge["cafile"]) as c:
            return [await c.get(p) for p in paths]
    return asyncio.run(main())


def _signed(settings, video_id: str, key: str, *, now: float | None = None, ttl_s: int = 600) -> str:
    return PlaybackSigner(settings.playback_keys, ttl_s).signed_path(f"{settings.vod_bucket}/{key}", video_id,
                                                                       now=now)


def test_a_private_video_answers_403_without_its_token_at_every_pop_cached_or_not(edge, videos, settings):
    from cdn_sim.topology import default_topology

    pops = [p.name for p in default_topology().pops]
    assert len(pops) > 1
    for name in ("private", "followers"):
        v = videos[name]
        bare = [f"/{settings.vod_bucket}/{v['master_key']}?pop={p}" for p in pops]
        seg = [f"/{settings.vod_bucket}/{v['segment_key']}?pop={p}" for p in pops]
        signed_seg = [_signed(settings, v["id"], v["segment_key"]) + f"?pop={p}" for p in pops]
        # Cold: nothing cached yet, refused before any tier is asked.
        assert {r.status for r in _get_all(edge, bare + seg)} == {403}, name
        # With the token every POP serves it (a miss, then a hit), privately.
        first, second = _get_all(edge, signed_seg), _get_all(edge, signed_seg)
        assert {r.status for r in first + second} == {200}
        assert {r.headers["x-cache"] for r in second} == {"HIT"}
        assert all(r.headers["cache-control"].startswith("private, max-age=") for r in first + second)
        # Now every tier holds it: still 403 without the token, and the refusal itself is not cacheable.
        refused = _get_all(edge, seg)
        assert {r.status for r in refused} == {403}
        assert all(r.headers["cache-control"] == "no-store" and b"not public" in r.body for r in refused)


def test_a_token_opens_its_own_video_only_and_not_after_it_expires(edge, videos, settings):
    private, followers = videos["private"], videos["followers"]
    other = PlaybackSigner([b"k" * 32], 600).signed_path(f"{settings.vod_bucket}/{private['segment_key']}",
                                                         private["id"])
    token_for_followers = _signed(settings, followers["id"], followers["segment_key"]).split("/")[2]
    token = _signed(settings, private["id"], private["segment_key"]).split("/")[2]
    expires, signature = token.split(".")
    later = f"/t/{int(expires) + 86400}.{signature}/{settings.vod_bucket}/{private['segment_key']}"
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    forged = f"/t/{expires}.{flipped}/{settings.vod_bucket}/{private['segment_key']}"
    cases = {
        "another video's token": f"/t/{token_for_followers}/{settings.vod_bucket}/{private['segment_key']}",
        "expired": _signed(settings, private["id"], private["segment_key"], now=time.time() - 700),
        "another key": other,
        "tampered": forged,
        "extended": later,
        "garbage": f"/t/not-a-token/{settings.vod_bucket}/{private['segment_key']}",
        "no video": f"/t/{token_for_followers}/{settings.vod_bucket}/elsewhere/x.m4s",
    }
    answers = dict(zip(cases, _get_all(edge, list(cases.values())), strict=True))
    assert {name: r.status for name, r in answers.items()} == {
        "another video's token": 403, "expired": 403, "another key": 403, "tampered": 403, "extended": 403,
        "garbage": 403,
        "no video": 404}
    assert b"not valid for this video" in answers["another video's token"].body
    assert b"expired" in answers["expired"].body


def test_public_videos_stay_unsigned_and_cacheable_and_deleted_ones_are_gone(edge, videos, settings, sessions):
    public, deleted = videos["public"], videos["deleted"]
    path = f"/{settings.vod_bucket}/{public['segment_key']}"
    plain, again, with_token = _get_all(edge, [path, path, _signed(settings, public["id"], public["segment_key"])])
    assert plain.status == again.status == with_token.status == 200
    assert again.headers["x-cache"] == "HIT" and "immutable" in plain.headers["cache-control"]

    signed_deleted = _signed(settings, deleted["id"], deleted["segment_key"])
    assert _get_all(edge, [signed_deleted])[0].status == 200  # cached at the default POP while it existed
    with session_scope(sessions) as s:
        repo.tombstone(s, deleted["id"])
    # The delete's purge reaches the edge's admin API, which also forgets the cached access answer.
    assert httpx.post(f"http://127.0.0.1:{edge['port']}/admin/purge/{deleted['id']}").status_code == 200
    gone = _get_all(edge, [signed_deleted, f"/{settings.vod_bucket}/{deleted['master_key']}"])
    assert [r.status for r in gone] == [404, 404]


def test_the_api_signs_a_private_video_for_its_viewers_and_it_plays_over_http3(edge, settings, sessions, store,
                                                                                 package):
    with make_client(settings, edge_public_url=edge["url"], redis_prefix=OWN_REDIS_PREFIX) as api:
        creator, fan, stranger = Person(api), Person(api), Person(api)
        assert api.post(f"/v1/users/{creator.id}/follow", headers=fan.headers).status_code == 200
        ids = {}
        for privacy in ("private", "followers", "public"):
            with session_scope(sessions) as s:
                vid = repo.create_video(s, caption=privacy, privacy=privacy, creator_id=creator.id).id
                repo.start_processing(s, vid, run_id=privacy)
            result = publish_package(store, package.directory, settings.vod_bucket, f"v/{vid}/p1")
            with session_scope(sessions) as s:
                repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p1", master_key=result.master_key, renditions=[])
            ids[privacy] = vid

        own = api.get(f"/v1/videos/{ids['private']}", headers=creator.headers).json()["playback_url"]
        assert urlsplit(own).path.startswith("/t/")
        # The creator's status stream signs it too (its ready event carries the URL); a public one's is plain.
        for privacy, signed in (("private", True), ("public", False)):
            with api.stream("GET", f"/v1/videos/{ids[privacy]}/events", headers=creator.headers) as resp:
                text = "".join(resp.iter_text())
            ready = json.loads(next(line for line in text.splitlines() if line.startswith("data:") and
                                    '"ready"' in line)[5:])
            assert urlsplit(ready["detail"]["playback_url"]).path.startswith("/t/") == signed, privacy
        assert api.get(f"/v1/videos/{ids['private']}", headers=stranger.headers).status_code == 404
        for_fan = api.get(f"/v1/videos/{ids['followers']}", headers=fan.headers).json()["playback_url"]
        assert urlsplit(for_fan).path.startswith("/t/")
        public = api.get(f"/v1/videos/{ids['public']}", headers=stranger.headers).json()["playback_url"]
        assert urlsplit(public).path.startswith(f"/{settings.vod_bucket}/v/")
        profile = api.get(f"/v1/users/{creator.id}/videos", headers=fan.headers).json()["items"]
        by_id = {item["id"]: item["playback_url"] for item in profile}
        assert urlsplit(by_id[ids["followers"]]).path.startswith("/t/") and ids["private"] not in by_id

    options = ConnectOptions(cafile=edge["cafile"])
    config = PlayerConfig(speed=8.0)
    report = asyncio.run(play_session(own, config=config, options=options))
    assert report.ended == "end" and report.played_s >= 3.5 and report.rebuffer_count == 0
    assert asyncio.run(play_session(for_fan, config=config, options=options)).ended == "end"
    # The same URL without its token: the player stops at the master.
    from delivery.player import PlaybackError

    bare = own.replace(urlsplit(own).path.split("/vod/")[0], "")
    with pytest.raises(PlaybackError, match="403"):
        asyncio.run(play_session(bare, config=config, options=options))


def _publish(sessions, store, settings, package, creator: str, privacy: str = "public") -> dict:
    with session_scope(sessions) as s:
        vid = repo.create_video(s, caption=f"takedown {privacy}", privacy=privacy, creator_id=creator).id
        repo.start_processing(s, vid, run_id=f"td-{vid}")
    result = publish_package(store, package.directory, settings.vod_bucket, f"v/{vid}/p1")
    with session_scope(sessions) as s:
        repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p1", master_key=result.master_key, renditions=[])
    keys = sorted(store.list_keys(settings.vod_bucket, f"v/{vid}/p1/"))
    return {"id": vid, "master_key": result.master_key, "keys": keys,
            "segment_key": next(k for k in keys if k.endswith(".m4s") and "/h264/" in k)}


def test_a_reported_video_goes_through_review_to_takedown_at_every_edge_tier_and_an_appeal_restores_it(
        edge, settings, sessions, store, package):
    from adapters.edge_admin import EdgePurger
    from catalog.models import PendingPurge
    from cdn_sim.topology import default_topology
    from feed_api.app import create_app
    from reelflow import cli
    from tests.integration.feed_helpers import RecordingPipeline, all_pages

    pops = [p.name for p in default_topology().pops]
    cfg = settings.model_copy(update={"edge_public_url": edge["url"], "feed_ranker": False,
                                      "redis_prefix": OWN_REDIS_PREFIX,
                                      "moderation_review_reports": 3})
    app = create_app(cfg, pipeline=RecordingPipeline(), purger=EdgePurger(f"http://127.0.0.1:{edge['port']}"))
    from fastapi.testclient import TestClient

    with TestClient(app) as api:
        creator, mod = Person(api), Person(api)
        reporters = [Person(api) for _ in range(3)]
        assert cli.main(["user", "role", mod.handle, "moderator"]) == 0
        video = _publish(sessions, store, settings, package, creator.id)
        vid = video["id"]
        paths = [f"/{settings.vod_bucket}/{k}" for k in (video["master_key"], video["segment_key"])]
        everywhere = [f"{p}?pop={pop}" for pop in pops for p in paths]

        # Watched at every POP: every edge tier, the regional tiers and the shield hold it now.
        assert {r.status for r in _get_all(edge, everywhere)} == {200}
        assert {r.headers["x-cache"] for r in _get_all(edge, everywhere)} == {"HIT"}

        # Three reports hold it for review; the moderator finds it in the queue and takes it down.
        for person in reporters:
            assert api.post(f"/v1/videos/{vid}/report", json={"reason": "violence", "note": "graphic"},
                            headers=person.headers).status_code == 201
        queue = api.get("/v1/moderation/queue", headers=mod.headers).json()["items"]
        assert next(i for i in queue if i["target_id"] == vid)["reasons"] == {"violence": 3}
        removed = api.post(f"/v1/moderation/videos/{vid}/actions", headers=mod.headers,
                           json={"action": "remove", "reason": "graphic violence (rule 4)"})
        assert removed.status_code == 200, removed.text

        # Gone from every POP, cached or not; no tier keeps a byte of it; the origin keeps it for an appeal.
        with session_scope(sessions) as s:
            assert s.query(PendingPurge).filter_by(video_id=vid).count() == 0  # the purge reached the edge
        assert {r.status for r in _get_all(edge, everywhere)} == {404}
        assert sum(edge["app"].cdn.purge_video(vid).values()) == 0  # nothing left in any tier to purge
        assert store.list_keys(settings.vod_bucket, f"v/{vid}/p1/") == video["keys"]
        # ... and from the API: the page, and every feed of a stranger.
        stranger = Person(api)
        assert api.get(f"/v1/videos/{vid}", headers=stranger.headers).status_code == 404
        for params in ({"type": "for_you"}, {"type": "trending"}):
            items, _ = all_pages(api, stranger.headers, {"limit": 20, **params})
            assert vid not in {i["id"] for i in items}

        # The creator is told why, and appeals; the moderator upholds it.
        told = api.get("/v1/me/notifications", headers=creator.headers).json()["items"]
        assert any(n["video_id"] == vid and "graphic violence (rule 4)" in str(n["detail"]) for n in told)
        appeal = api.post(f"/v1/videos/{vid}/appeal", headers=creator.headers,
                          json={"statement": "it is a film scene, and clearly fictional"})
        assert appeal.status_code == 201, appeal.text
        decided = api.post(f"/v1/moderation/appeals/{appeal.json()['id']}", headers=mod.headers,
                           json={"decision": "uphold", "reason": "fiction is allowed"})
        assert decided.status_code == 200, decided.text

        # Back at every POP (read from the origin again) and on its page.
        assert {r.status for r in _get_all(edge, everywhere)} == {200}
        assert api.get(f"/v1/videos/{vid}", headers=stranger.headers).status_code == 200


def test_a_creator_making_a_video_private_takes_it_off_the_edge_and_avatars_are_public(
        edge, settings, sessions, store, package):
    """PATCH /v1/videos/{id} {privacy: private} purges the edge like a takedown: the unsigned URL a stranger
    watched it through answers 403 at every POP, cached or not; only the creator's signed URL plays."""
    import io

    from PIL import Image

    from adapters.edge_admin import EdgePurger
    from cdn_sim.topology import default_topology
    from feed_api.app import create_app
    from tests.integration.feed_helpers import RecordingPipeline

    pops = [p.name for p in default_topology().pops]
    cfg = settings.model_copy(update={"edge_public_url": edge["url"], "feed_ranker": False,
                                      "redis_prefix": OWN_REDIS_PREFIX})
    app = create_app(cfg, pipeline=RecordingPipeline(), purger=EdgePurger(f"http://127.0.0.1:{edge['port']}"))
    from fastapi.testclient import TestClient

    with TestClient(app) as api:
        creator, stranger = Person(api), Person(api)
        video = _publish(sessions, store, settings, package, creator.id)
        vid = video["id"]
        url = api.get(f"/v1/videos/{vid}", headers=stranger.headers).json()["playback_url"]
        assert urlsplit(url).path == f"/{settings.vod_bucket}/{video['master_key']}"  # public: unsigned
        paths = [f"/{settings.vod_bucket}/{k}" for k in (video["master_key"], video["segment_key"])]
        everywhere = [f"{p}?pop={pop}" for pop in pops for p in paths]
        assert {r.status for r in _get_all(edge, everywhere)} == {200}
        assert {r.headers["x-cache"] for r in _get_all(edge, everywhere)} == {"HIT"}

        resp = api.patch(f"/v1/videos/{vid}", headers=creator.headers, json={"privacy": "private"})
        assert resp.status_code == 200, resp.text
        # The stranger's URL, cached at every POP a moment ago, is refused everywhere now (no 5 s wait: the purge
        # dropped the edge's cached answer), and nothing of it is left in any tier.
        refused = _get_all(edge, everywhere)
        assert {r.status for r in refused} == {403} and all(r.headers["cache-control"] == "no-store" for r in refused)
        assert sum(edge["app"].cdn.purge_video(vid).values()) == 0
        assert api.get(f"/v1/videos/{vid}", headers=stranger.headers).status_code == 404
        # The creator's own URL is signed and plays; the origin kept the objects.
        own = api.get(f"/v1/videos/{vid}", headers=creator.headers).json()["playback_url"]
        assert urlsplit(own).path.startswith("/t/")
        assert _get_all(edge, [urlsplit(own).path])[0].status == 200
        assert store.list_keys(settings.vod_bucket, f"v/{vid}/p1/") == video["keys"]

        # Avatars: public objects at the edge, the one kind of key besides videos it serves.
        img = io.BytesIO()
        Image.new("RGB", (300, 300), (10, 200, 90)).save(img, "PNG")
        me = api.put("/v1/me/avatar", headers=creator.headers, content=img.getvalue())
        assert me.status_code == 200, me.text
        avatar = urlsplit(me.json()["avatar_url"])
        assert f"{avatar.scheme}://{avatar.netloc}" == edge["url"]
        got = _get_all(edge, [avatar.path, avatar.path.replace("-256.jpg", "-64.jpg"),
                              f"/{settings.vod_bucket}/u/{creator.id}/avatar/../../v/{vid}/p1/master.m3u8",
                              f"/{settings.vod_bucket}/u/{creator.id}/notes.txt"])
        assert [r.status for r in got[:2]] == [200, 200] and got[2].status in (400, 404) and got[3].status == 404
        assert got[0].body[:2] == b"\xff\xd8" and Image.open(io.BytesIO(got[0].body)).size == (256, 256)
