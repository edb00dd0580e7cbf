"""Discovery over real PostgreSQL and Redis, through the API: trending hashtags and sounds per region, suggested
creators, related videos."""

from __future__ import annotations

import numpy as np
import pytest

from catalog import embeddings, social
from catalog.db import session_scope
from tests.integration.feed_helpers import Person, clear_live_keys, make_client, word
from tests.integration.search_helpers import engage, video, vocab

MODEL = "search-test-v1"


@pytest.fixture(scope="module", autouse=True)
def _live_keys(settings):
    yield
    clear_live_keys(settings)


@pytest.fixture(scope="module")
def api(settings, store, catalog_url):
    with make_client(settings) as client:
        yield client


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [item["id"] for item in resp.json()["items"]]


# ------------------------------------------------------------------------------------------- trending
def test_trending_hashtags_and_sounds_count_people_of_the_region_recently(api, sessions):
    region, elsewhere = word(6), word(6)  # regions no other test uses: the lists are this test's own
    creator = Person(api)
    locals_ = [Person(api, region=region) for _ in range(4)]
    strangers = [Person(api, region=elsewhere) for _ in range(5)]
    hot, warm, old, lonely, hidden = (vocab(6) for _ in range(5))
    snd_hot, snd_warm = "snd:" + vocab(6), "snd:" + vocab(6)
    v_hot = video(sessions, creator.id, "x", tags=(hot.upper(),), sound=snd_hot)
    v_warm = video(sessions, creator.id, "x", tags=(warm,), sound=snd_warm)
    v_old = video(sessions, creator.id, "x", tags=(old,))
    v_lonely = video(sessions, creator.id, "x", tags=(lonely,))
    v_private = video(sessions, creator.id, "x", tags=(hidden,), privacy="private")
    for p in locals_:  # four people like and share the hot one now
        engage(sessions, p.id, v_hot, "like", hours_ago=1)
        engage(sessions, p.id, v_hot, "share", hours_ago=1)
        engage(sessions, p.id, v_private, "share", hours_ago=1)  # a private video's tag must never trend
    for p in locals_[:2]:  # two view the warm one, a few hours ago
        engage(sessions, p.id, v_warm, "view_start", hours_ago=5)
    for p in locals_:  # everybody liked the old one, three days ago: outside the 48 h window
        engage(sessions, p.id, v_old, "like", hours_ago=72)
    for _ in range(10):  # one person, many times: one person
        engage(sessions, locals_[0].id, v_lonely, "share", hours_ago=1)
    for p in strangers:  # people of another region: the warm tag trends there, not here
        engage(sessions, p.id, v_warm, "share", hours_ago=1)

    resp = api.get("/v1/discover/hashtags", params={"region": region})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["region"] == region and body["window_hours"] == 48
    assert [t["tag"] for t in body["items"]] == [hot, warm]
    assert body["items"][0]["people"] == 4 and body["items"][0]["score"] > body["items"][1]["score"] > 0
    there = api.get("/v1/discover/hashtags", params={"region": elsewhere}).json()["items"]
    assert [t["tag"] for t in there] == [warm]
    sounds = api.get("/v1/discover/sounds", params={"region": region}).json()
    assert [s["sound_id"] for s in sounds["items"]] == [snd_hot, snd_warm]
    # Signed in without a region parameter: your region's list.
    mine = api.get("/v1/discover/hashtags", headers=locals_[1].headers).json()
    assert mine["region"] == region and [t["tag"] for t in mine["items"]] == [hot, warm]
    # Global: everyone's engagement (other tests' tags too); the private video's tag is still not there.
    everywhere = [t["tag"] for t in api.get("/v1/discover/hashtags", params={"region": "global", "limit": 50})
                  .json()["items"]]
    assert hidden not in everywhere


def test_trending_leaves_out_the_tags_a_viewer_is_not_interested_in(api, sessions):
    region = word(6)
    creator, viewer = Person(api), Person(api, region=region)
    fans = [Person(api, region=region) for _ in range(2)]
    a, b = vocab(6), vocab(6)
    va, vb = video(sessions, creator.id, "x", tags=(a,)), video(sessions, creator.id, "x", tags=(b,))
    for p in fans:
        engage(sessions, p.id, va, "like")
        engage(sessions, p.id, vb, "view_start")
    assert api.post(f"/v1/videos/{va}/not_interested", json={"kind": "tag", "tag": a},
                    headers=viewer.headers).status_code == 200
    assert [t["tag"] for t in api.get("/v1/discover/hashtags", headers=viewer.headers).json()["items"]] == [b]
    assert [t["tag"] for t in api.get("/v1/discover/hashtags", params={"region": region}).json()["items"]] == [a, b]


# ------------------------------------------------------------------------------------------- creators
def test_suggested_creators_come_from_follows_region_and_interests_never_the_excluded(api, sessions):
    region, topic = word(6), vocab(6)
    me = Person(api, region=region, interests=(topic,))
    friends = [Person(api) for _ in range(3)]
    fof, local, topical, followed, blocked, nothing_public, blocker = (Person(api) for _ in range(7))
    local_star = Person(api, region=region)
    for f in friends:
        assert api.post(f"/v1/users/{f.id}/follow", headers=me.headers).status_code == 200
        for target in (fof, followed, blocked, nothing_public):
            assert api.post(f"/v1/users/{target.id}/follow", headers=f.headers).status_code == 200
    for f in friends:
        video(sessions, f.id, "x")
    video(sessions, fof.id, "x")
    with session_scope(sessions) as s:  # the region's creator: videos made in the region, popular
        from catalog.models import Video

        vid = video(sessions, local_star.id, "x", views=10_000)
        s.get(Video, vid).region = region
    video(sessions, topical.id, "x", tags=(topic,))
    video(sessions, followed.id, "x")
    video(sessions, blocked.id, "x")
    video(sessions, blocker.id, "x")
    video(sessions, nothing_public.id, "x", privacy="private")
    video(sessions, me.id, "x")
    assert api.post(f"/v1/users/{followed.id}/follow", headers=me.headers).status_code == 200
    assert api.post(f"/v1/users/{blocked.id}/block", headers=me.headers).status_code == 200
    assert api.post(f"/v1/users/{me.id}/block", headers=blocker.headers).status_code == 200

    resp = api.get("/v1/discover/creators", params={"limit": 50}, headers=me.headers)
    assert resp.status_code == 200, resp.text
    items = {c["id"]: c for c in resp.json()["items"]}
    assert items[fof.id]["reason"] == "followed_by_people_you_follow"
    assert items[fof.id]["followed_by_people_you_follow"] == 3
    assert list(items)[0] == fof.id  # three friends' follows beat every other signal here
    assert items[topical.id]["reason"] == "posts_your_interests"
    assert items[local_star.id]["reason"] in ("popular_in_your_region", "popular", "trending_now")
    for excluded in (me, followed, blocked, blocker, nothing_public, *friends):
        assert excluded.id not in items
    assert api.get("/v1/discover/creators").status_code == 401


# ------------------------------------------------------------------------------------------- related
def _vector(seed: int, base: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=64).astype(np.float32)
    if base is not None:
        v = base + 0.2 * v
    return v / np.linalg.norm(v)


def test_related_videos_combine_content_and_co_engagement_and_only_show_what_may_be_seen(api, sessions):
    creator, other, blocked_creator, viewer = Person(api), Person(api), Person(api), Person(api)
    fans = [Person(api) for _ in range(4)]
    source = video(sessions, creator.id, "the source")
    lookalike = video(sessions, other.id, "looks the same")
    co_liked = video(sessions, other.id, "liked by the same people")
    unrelated = video(sessions, other.id, "nothing alike")
    private_lookalike = video(sessions, other.id, "private", privacy="private")
    blocked_lookalike = video(sessions, blocked_creator.id, "blocked")
    base = _vector(1)
    with session_scope(sessions) as s:
        embeddings.save_embedding(s, source, MODEL, base)
        for vid, seed in ((lookalike, 2), (private_lookalike, 3), (blocked_lookalike, 4)):
            embeddings.save_embedding(s, vid, MODEL, _vector(seed, base))
        for vid, seed in ((co_liked, 5), (unrelated, 6)):
            embeddings.save_embedding(s, vid, MODEL, _vector(seed))
        for f in fans:
            social.like(s, f.id, source)
            social.like(s, f.id, co_liked)
            social.like(s, f.id, private_lookalike)
    assert api.post(f"/v1/users/{blocked_creator.id}/block", headers=viewer.headers).status_code == 200

    def related(who=None):
        return ids(api.get(f"/v1/videos/{source}/related", params={"limit": 50},
                           headers=who.headers if who else {}))

    anonymous = related()
    assert source not in anonymous and private_lookalike not in anonymous
    assert {lookalike, co_liked, blocked_lookalike} <= set(anonymous)
    assert anonymous.index(co_liked) < anonymous.index(unrelated)
    assert anonymous.index(lookalike) < anonymous.index(unrelated)
    mine = related(viewer)  # the same list, less the creator this viewer blocked
    assert blocked_lookalike not in mine and {lookalike, co_liked} <= set(mine)
    assert api.get(f"/v1/videos/{private_lookalike}/related", headers=viewer.headers).status_code == 404
    assert api.get("/v1/videos/0000000000000000/related").status_code == 404
