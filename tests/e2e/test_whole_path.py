"""The whole path on the real stack: API -> S3 -> Airflow's own services -> origin -> HTTP/3 edge -> player."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from catalog.db import drop_database
from delivery.player import play_startup
from reelflow.client import ReelflowClient
from reelflow.settings import Settings
from reelflow.stack import Stack
from tests.conftest import PG, RUN_TAG, TMP, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(settings: Settings):
    s3_port, edge_port = free_port(), free_port()
    cfg = settings.model_copy(update={
        "home": TMP / "stack",
        "database_url": f"{PG}/reelflow_e2e_{RUN_TAG}",
        "airflow_database_url": f"{PG}/reelflow_e2e_airflow_{RUN_TAG}",
        "s3_endpoint": f"http://127.0.0.1:{s3_port}",
        "airflow_url": f"http://127.0.0.1:{free_port()}",
        "api_port": free_port(),
        "edge_port": edge_port,
        "edge_public_url": f"https://localhost:{edge_port}",
        "airflow_parallelism": 2,
    })
    stack = Stack(cfg, log=print)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        for url in (cfg.database_url, cfg.airflow_database_url):
            drop_database(url)


def test_upload_to_http3_playback_with_hostile_uploads(stack: Stack, clips):
    cfg = stack.s
    assert all(s.healthy for s in stack.status()), stack.status()
    client = ReelflowClient(cfg.api_url)

    # Hostile uploads first: each ends failed with a reason, and the service keeps working afterwards.
    bad = {name: client.upload(clips[name], caption=name) for name in ("text", "truncated")}
    good = client.upload(clips["landscape"], caption="e2e", hashtags=["e2e"])
    assert good["state"] == "processing" and good["pipeline_run_id"]

    for name, video in bad.items():
        settled = client.wait_settled(video["id"], timeout_s=300)
        assert settled["state"] == "failed", settled
        assert settled["failure"]["code"] == {"text": "not_media", "truncated": "truncated"}[name]
        assert settled["playback_url"] is None

    ready = client.wait_settled(good["id"], timeout_s=300)
    assert ready["state"] == "ready", ready
    assert ready["playback_url"].startswith(cfg.edge_public_url + "/vod/v/" + good["id"] + "/")
    assert {r["name"] for r in ready["renditions"]} >= {"h264-240p", "h264-360p", "av1-360p", "audio"}
    assert ready["poster_url"].endswith("/thumbs/poster_720.jpg")
    assert ready["thumbnails_vtt_url"].endswith("/thumbs/sprite.vtt")

    from reelflow.ingest import origin_store

    store = origin_store(cfg)
    for video in bad.values():
        assert store.list_keys(cfg.vod_bucket, f"v/{video['id']}/") == []

    cafile = str(cfg.home / "certs" / "edge-cert.pem")
    report = asyncio.run(play_startup(ready["playback_url"], segments=2, cafile=cafile))
    assert report.segments_fetched == 4  # two video and two audio segments
    assert report.bytes > 50_000 and 0 < report.startup_s < 5
    assert report.codecs.startswith("avc1.") and "mp4a.40.2" in report.codecs

    # The TCP side of the edge advertises HTTP/3 for browsers.
    resp = httpx.get(f"http://127.0.0.1:{cfg.edge_port}/healthz")
    assert resp.headers["alt-svc"] == f'h3=":{cfg.edge_port}"; ma=86400'

    # Deleting through the API takes the video off the origin and out of every CDN tier: the edge, which
    # has the master cached from the playback above, answers 404 once the purge has gone through.
    master = ready["playback_url"].replace(cfg.edge_public_url, f"http://127.0.0.1:{cfg.edge_port}")
    assert httpx.get(master).status_code == 200
    client.delete(good["id"])
    deadline = time.monotonic() + 30
    while httpx.get(master).status_code != 404:
        assert time.monotonic() < deadline, "the deleted video is still served by the edge"
        time.sleep(0.5)
    assert store.list_keys(cfg.vod_bucket, f"v/{good['id']}/") == []

    # Starting twice is harmless: the same processes keep running.
    pids = {s.name: s.pid for s in stack.status()}
    stack.up()
    assert {s.name: s.pid for s in stack.status()} == pids


def test_down_stops_only_what_up_started(stack: Stack):
    before = {s.name: s for s in stack.status()}
    managed = {name for name, s in before.items() if s.managed}
    assert {"s3", "airflow-api-server", "airflow-scheduler", "api", "edge"} <= managed
    assert not before["postgres"].managed and not before["redis"].managed  # system services stay external

    stopped = set(stack.down())
    assert stopped == managed
    after = {s.name: s for s in stack.status()}
    assert not any(after[name].healthy for name in ("s3", "airflow-api-server", "api", "edge"))
    assert after["postgres"].healthy and after["redis"].healthy
    assert stack.down() == []  # a second down finds nothing to stop
