"""Pre-warming end to end below the scheduler: trending scores in real Redis, videos in the real catalog,
``jobs.prewarm.run`` (the ``prewarm_edges`` DAG's task) against an edge admin API stub that records every
push. A private video that trends is never pushed; a pushed video is not pushed again within hours."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import httpx
import pytest
import redis

from adapters import live_store
from adapters.edge_admin import EdgePusher, PushFailed
from catalog import users
from catalog.db import session_scope
from jobs import prewarm
from tests.integration.feed_helpers import ready_video
from tests.pipeline import load_dag_module

T0 = 1_800_000_000.0  # a fixed clock: the trending keys' period follows from it


class StubEdge:
    def __init__(self, status: int = 200) -> None:
        self.pushes: list[dict] = []
        self.status = status

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/admin/push" and request.headers["authorization"] == "Bearer tok"
        body = json.loads(request.content)
        self.pushes.append(body)
        if self.status != 200:
            return httpx.Response(self.status, text="edge trouble")
        return httpx.Response(200, json={"fetched": 3, "bytes": 1_500_000, "missing": [], "errors": {}})


@pytest.fixture
def world(sessions, settings):
    r = redis.Redis.from_url(settings.redis_url)
    keys = live_store.Keys(f"pw{secrets.token_hex(4)}:")
    with session_scope(sessions) as s:
        creator = users.create_user(s, handle=f"pw_{secrets.token_hex(4)}", region="eu").id
    vids = {name: ready_video(sessions, creator, privacy="private" if name == "private" else "public", region="eu")
            for name in ("rising", "flat", "private")}
    yield r, keys, vids
    for k in list(r.scan_iter(f"{keys.p}*")):
        r.delete(k)
    r.close()


def _views(r, keys, region: str, video: str, n: int, at: float) -> None:
    r.zincrby(keys.trend(region, at), n * live_store.trend_weight("view", at), video)


def test_rising_public_videos_are_pushed_to_their_region_once(world, sessions):
    r, keys, vids = world
    edge = StubEdge()
    pusher = EdgePusher("http://edge.test", token="tok", transport=httpx.MockTransport(edge.handle))
    # Before the first run: "flat" has a long history (~1 view a minute for a day), the others nothing.
    for hours in range(24, 0, -1):
        _views(r, keys, "eu", vids["flat"], 60, T0 - hours * 3600)
    first = {x.region: x for x in prewarm.run(r, keys, sessions, pusher, now=T0)}
    assert first["eu"].note == "first sample" and not edge.pushes  # growth needs two samples
    # Ten minutes later: "flat" keeps its pace; "rising" and the private video take off.
    _views(r, keys, "eu", vids["flat"], 10, T0 + 300)
    _views(r, keys, "eu", vids["rising"], 25, T0 + 300)
    _views(r, keys, "eu", vids["private"], 40, T0 + 300)
    second = {x.region: x for x in prewarm.run(r, keys, sessions, pusher, now=T0 + 600)}
    assert second["eu"].pushed == [vids["rising"]]  # not the flat one; never the private one
    assert second["us"].pushed == [] and second["ap"].pushed == []
    (push,) = edge.pushes
    assert push["playlists"] == [f"/vod/v/{vids['rising']}/pub1/master.m3u8"]
    assert push["pops"] and all(p.startswith("eu") for p in push["pops"])
    assert push["variants"] == 1 and push["segments"] == 2 and push["views"] > 0
    # Still rising ten minutes on: already pushed, so not again.
    _views(r, keys, "eu", vids["rising"], 50, T0 + 900)
    third = {x.region: x for x in prewarm.run(r, keys, sessions, pusher, now=T0 + 1200)}
    assert third["eu"].pushed == [] and len(edge.pushes) == 1
    assert prewarm.summary(list(third.values()))["eu"]["pushed"] == []


def test_an_edge_that_refuses_fails_the_run_and_a_stale_sample_starts_over(world, sessions):
    r, keys, vids = world
    edge = StubEdge(status=401)
    pusher = EdgePusher("http://edge.test", token="tok", transport=httpx.MockTransport(edge.handle))
    prewarm.run(r, keys, sessions, pusher, now=T0)
    _views(r, keys, "eu", vids["rising"], 25, T0 + 300)
    with pytest.raises(PushFailed, match="401"):
        prewarm.run(r, keys, sessions, pusher, now=T0 + 600)
    # A sample two hours old (the DAG was paused) is not a trend: start over, push nothing.
    _views(r, keys, "eu", vids["rising"], 25, T0 + 8000)
    late = {x.region: x for x in prewarm.run(r, keys, sessions, pusher, now=T0 + 8400)}
    assert late["eu"].note.startswith("previous sample too old") and len(edge.pushes) == 1


def test_the_dag_runs_the_job_every_ten_minutes(airflow_db):
    dag = load_dag_module("prewarm_edges").PREWARM_EDGES
    assert dag.dag_id == "prewarm_edges" and [t.task_id for t in dag.tasks] == ["push_rising"]
    assert dag.schedule == timedelta(minutes=10) and dag.max_active_runs == 1
