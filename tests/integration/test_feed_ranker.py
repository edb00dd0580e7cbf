"""The trained ranker in the feed API, on real services: a small synthetic world in PostgreSQL, a two-tower
model and a ranker trained and published to the S3 registry through ``jobs.recsys`` (what train_models
runs), pools and user vectors written by the refresh, and For You pages ordered by the model; a new version
switches without a restart, a broken one keeps the old serving, and without a usable user vector the light
ranker serves.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import redis

from adapters import live_store as live
from catalog.db import drop_database, ensure_database, make_engine, make_sessionmaker, session_scope
from catalog.migrate import upgrade
from config import clients
from feed_api import feed_service
from feed_api.cards import get_cards
from jobs import recsys
from jobs import synthetic_world as synthetic
from recommend import blended_ranking as model_ranking
from recommend import diversity
from recommend import light_ranker as ranking
from recommend.ranker import Ranker, RankerConfig
from tests.integration.feed_helpers import make_client as _make_client
from tests.integration.feed_helpers import ready_video

PAGE = 10
POOL = 2 * PAGE  # with no candidates beyond twice the page, the page has no exploration slots: a pure order


def make_client(settings, **overrides):
    return _make_client(settings, **{"feed_ranker": settings.feed_ranker, **overrides})


@pytest.fixture(scope="module")
def rk_settings(settings):
    """A catalog of this module's own, so the world's log is all that trains the models."""
    url = f"{settings.database_url}_ranker"
    ensure_database(url)
    upgrade(url)
    yield settings.model_copy(update={"database_url": url, "feed_ranker": True, "feed_ranker_check_s": 0.2})
    clients.forget_sessions(settings.model_copy(update={"database_url": url}))
    drop_database(url)


@pytest.fixture(scope="module")
def r(rk_settings):
    client = redis.Redis.from_url(rk_settings.redis_url, decode_responses=True)
    yield client
    for key in client.scan_iter(f"{rk_settings.redis_prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def trained(rk_settings, store, r):
    """World -> two-tower + ranker in the registry -> pools and user vectors in Redis."""
    now = datetime.now(UTC)
    engine = make_engine(rk_settings.database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        world = synthetic.build_world(s, now=now, n_topics=4, videos_per_topic=12, n_users=12)
        synthetic.simulate(s, world, now=now, views_per_user=30)
    start, end = now - timedelta(days=3), now + timedelta(minutes=1)
    tt = recsys.train_two_tower(rk_settings, start=start, end=end, epochs=3)
    rk = recsys.train_ranker(rk_settings, start=start, end=end, epochs=3, two_tower=tt["version"])
    assert tt and rk, "the world's log must train both models"
    stats = recsys.refresh_pools(rk_settings, as_of=now + timedelta(seconds=1), run_id="manual__ranker_test",
                                 models={"two_tower": tt["version"]}, embedding_model=synthetic.EMBEDDING_MODEL,
                                 pool_size=100, window_days=14)
    yield {"world": world, "sessions": sessions, "two_tower": tt["version"], "ranker": rk["version"],
           "stats": stats, "window": (start, end)}
    engine.dispose()


@pytest.fixture(scope="module")
def api(rk_settings, trained):
    with make_client(rk_settings) as client:
        holder = client.app.state.services.model_ranker
        _wait(lambda: holder.version == trained["ranker"], "the API to load the published ranker")
        yield client


def _wait(cond, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _count(metric, *labels: str) -> float:
    return metric.labels(*labels)._value.get()


@pytest.fixture(scope="module")
def viewer(api, trained, rk_settings, r):
    """A world user with a history (so a real user vector), a fresh pool of known videos and two published
    after training (unknown to the two-tower model), each by its own creator so diversity does not reorder."""
    world, sessions = trained["world"], trained["sessions"]
    user = sorted(world.users)[0]
    token = api.post("/v1/auth/dev-token", json={"user_id": user}).json()["access_token"]
    fresh = [ready_video(sessions, creator, tags=("fresh",)) for creator in sorted(world.creators)[:2]]
    rng = np.random.default_rng(3)
    known = [str(v) for v in rng.choice(sorted(world.videos), POOL - len(fresh), replace=False)]
    pool = [(v, float(s)) for v, s in zip(known + fresh, rng.permutation(POOL) + 1.0, strict=True)]
    keys = live.Keys(rk_settings.redis_prefix)
    live.write_pool(r, keys, user, pool, source="test")
    return {"id": user, "headers": {"Authorization": f"Bearer {token}"}, "pool": pool, "fresh": fresh,
            "keys": keys}


def _page(api, viewer) -> list[str]:
    resp = api.get("/v1/feed", params={"type": "for_you", "limit": PAGE}, headers=viewer["headers"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["source"] == "pool"
    return [it["id"] for it in resp.json()["items"]]


def _expected(api, viewer, r) -> tuple[list[str], list[str]]:
    """(model order, light order) of the viewer's pool, computed with the pure functions from the same cards,
    profile, user vector and bundle the API holds."""
    svc = api.app.state.services
    eligible = sorted(viewer["pool"], key=lambda p: -p[1])
    cards = api.portal.call(get_cards, svc, [v for v, _ in eligible])
    now = time.time()
    cands = feed_service.candidates(eligible, cards, now)
    tags, creators = live.parse_profile(r.hgetall(viewer["keys"].profile(viewer["id"])))
    light = ranking.score(cands, tags, creators)
    raw = r.get(viewer["keys"].user_vector(viewer["id"]))
    _, vec = live.decode_user_vector(raw)
    scores = model_ranking.score(cands, tags, creators, bundle=svc.model_ranker.current, user_vec=vec,
                                 hour=time.gmtime(now).tm_hour, region="eu", weight=svc.model_ranker.weight)

    def order(s: np.ndarray) -> list[str]:
        return [cands[i].video_id for i in diversity.assemble(cands, s, PAGE, seed=0)]

    return order(scores), order(light)


def test_refresh_writes_user_vectors_of_the_two_tower_version(trained, rk_settings, r):
    keys = live.Keys(rk_settings.redis_prefix)
    world = trained["world"]
    assert trained["stats"]["user_vectors"] >= len(world.users)
    for user in world.users:
        version, vec = live.decode_user_vector(r.get(keys.user_vector(user)))
        assert version == trained["two_tower"] and vec.shape == (65,) and np.isfinite(vec).all()
        assert 0 < r.ttl(keys.user_vector(user)) <= 3 * 3600
    pointer = recsys.registry(rk_settings).current("ranker")
    assert pointer.version == trained["ranker"] and pointer.meta["two_tower"] == trained["two_tower"]


def test_for_you_pages_are_ordered_by_the_model(api, viewer, r):
    svc = api.app.state.services
    model_before = _count(svc.metrics.ranked, "model")
    page = _page(api, viewer)
    want_model, want_light = _expected(api, viewer, r)
    assert page == want_model
    assert page != want_light  # the model changes what the light ranker would show
    assert _count(svc.metrics.ranked, "model") == model_before + 1
    metrics = api.get("/metrics").text
    assert (f'reelflow_feed_ranker_model{{ranker_version="{svc.model_ranker.version}",'
            f'two_tower_version="{svc.model_ranker.current.two_tower_version}"}} 1.0') in metrics
    # Videos published after training are still served: the model puts them at its median.
    bundle = svc.model_ranker.current
    assert all(v not in bundle.item_rows for v in viewer["fresh"])
    assert bundle.lite is not None  # pages go through TFLite, checked against the tf.function at load


@pytest.mark.parametrize("case", ["missing", "other_version", "wrong_dim", "nan", "garbage"])
def test_without_a_usable_user_vector_the_light_ranker_serves(api, viewer, r, case):
    svc, keys = api.app.state.services, viewer["keys"]
    key = keys.user_vector(viewer["id"])
    saved = r.get(key)
    version = svc.model_ranker.current.two_tower_version
    bad = {"missing": None, "other_version": live.encode_user_vector("someother", np.ones(65)),
           "wrong_dim": live.encode_user_vector(version, np.ones(3)),
           "nan": live.encode_user_vector(version, np.full(65, np.nan)), "garbage": f"{version}:%%%"}[case]
    reason = {"missing": "ranker_no_user_vector", "other_version": "ranker_stale_user_vector"}.get(
        case, "ranker_bad_user_vector")
    before, light_before = _count(svc.metrics.fallbacks, reason), _count(svc.metrics.ranked, "light")
    try:
        if bad is None:
            r.delete(key)
        else:
            r.set(key, bad)
        page = _page(api, viewer)
    finally:
        r.set(key, saved)
    assert page == _expected(api, viewer, r)[1]
    assert _count(svc.metrics.fallbacks, reason) == before + 1
    assert _count(svc.metrics.ranked, "light") == light_before + 1


def test_no_model_loaded_yet_serves_the_light_ranker(rk_settings, trained, viewer, r):
    client = make_client(rk_settings)  # no lifespan entered: the loader thread never ran, as during start-up
    svc = client.app.state.services
    assert svc.model_ranker.current is None
    resp = client.get("/v1/feed", params={"type": "for_you", "limit": PAGE}, headers=viewer["headers"])
    assert resp.status_code == 200
    assert _count(svc.metrics.fallbacks, "ranker_no_model") == 1 and _count(svc.metrics.ranked, "light") == 1
    off = make_client(rk_settings, feed_ranker=False)
    assert off.app.state.services.model_ranker is None
    assert off.get("/v1/feed", params={"type": "for_you"}, headers=viewer["headers"]).status_code == 200
    assert _count(off.app.state.services.metrics.ranked, "light") == 1  # off: no fallback counted
    assert _count(off.app.state.services.metrics.fallbacks, "ranker_no_model") == 0


def test_a_new_version_switches_without_restart_and_a_broken_one_keeps_the_old(api, viewer, trained, rk_settings,
                                                                                 r, tmp_path):
    svc = api.app.state.services
    holder, reg = svc.model_ranker, recsys.registry(rk_settings)
    old = holder.current
    start, end = trained["window"]
    new = recsys.train_ranker(rk_settings, start=start, end=end, epochs=2, two_tower=trained["two_tower"])
    assert new["version"] != trained["ranker"]
    _wait(lambda: holder.version == new["version"], "the switch to the new ranker")
    assert holder.current is not old and holder.current.two_tower_version == trained["two_tower"]
    metrics = api.get("/metrics").text
    assert f'ranker_version="{new["version"]}"' in metrics and f'ranker_version="{old.ranker_version}"' not in metrics
    assert _page(api, viewer) == _expected(api, viewer, r)[0]  # ranked by the new bundle

    # Broken versions: weights that are not an npz, and a ranker saved without its region vocabulary.
    garbage = tmp_path / "garbage"
    Ranker(RankerConfig(user_dim=65, item_dim=65), regions=("eu",)).save(garbage)
    (garbage / "weights.npz").write_bytes(b"not a zip file")
    model_ranking.write_lineage(garbage, trained["two_tower"])
    old_format = tmp_path / "old_format"
    Ranker(RankerConfig(user_dim=65, item_dim=65)).save(old_format)
    model_ranking.write_lineage(old_format, trained["two_tower"])
    serving = holder.current
    for n, (name, directory) in enumerate([("garbage", garbage), ("noregions", old_format)], start=1):
        failed = _count(svc.metrics.model_loads, "failed")
        reg.publish("ranker", Path(directory), f"broken-{name}-{int(time.time())}",
                    meta={"two_tower": trained["two_tower"]})
        _wait(lambda f=failed: _count(svc.metrics.model_loads, "failed") > f, f"the {name} version to be refused")
        assert holder.current is serving, n
        model_before = _count(svc.metrics.ranked, "model")
        assert _page(api, viewer) == _expected(api, viewer, r)[0]
        assert _count(svc.metrics.ranked, "model") == model_before + 1
    time.sleep(0.5)  # several more checks: a refused version is not re-downloaded on each
    assert _count(svc.metrics.model_loads, "failed") == failed + 1
    reg.switch("ranker", new["version"], meta={"two_tower": trained["two_tower"]})  # roll back
