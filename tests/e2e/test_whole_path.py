"""The whole path on the real stack: API -> S3 -> Airflow's own services -> origin -> HTTP/3 edge -> player."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import pytest

from adapters.airflow_api import AirflowClient
from catalog.db import drop_database
from config.settings import Settings
from delivery.h3client import h3_connect
from delivery.player import parse_master, play_startup
from reelflow.creator_client import ReelflowClient
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
        # Above the executor's ~5 s lag in reporting a deferred task's process (see Settings.reladder_poke_s).
        "reladder_poke_s": 10.0,
        # As in compose: the API's purges must carry the edge's admin token (the delete below checks it).
        "edge_admin_token": f"e2e-admin-token-{RUN_TAG}-" + "t" * 16,
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
        # The creator's status stream says the same, with the reason, and ends there.
        events = list(client.events(video["id"], timeout_s=30))
        assert [e["kind"] for e in events] == ["processing", "rejected"], events
        assert events[-1]["detail"]["code"] == settled["failure"]["code"] and events[-1]["detail"]["reason"]

    ready = client.wait_settled(good["id"], timeout_s=300)
    assert ready["state"] == "ready", ready
    assert ready["playback_url"].startswith(cfg.edge_public_url + "/vod/v/" + good["id"] + "/")
    assert {r["name"] for r in ready["renditions"]} >= {"h264-240p", "h264-360p", "av1-360p", "audio"}
    assert ready["poster_url"].endswith("/thumbs/poster_720.jpg")
    assert ready["thumbnails_vtt_url"].endswith("/thumbs/sprite.vtt")

    from config.clients import origin_store

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


@dataclass(frozen=True)
class Poll:
    at: float  # time.monotonic()
    url: str  # the master playlist played
    publication: str  # v/<video>/<publication>/master.m3u8
    ok: bool
    detail: str  # what failed, or the codecs of the variant played


def _publication(master_url: str) -> str:
    found = re.search(r"/v/[^/]+/([^/]+)/(?:master|playable)\.m3u8$", master_url)
    assert found, master_url
    return found.group(1)


async def _play_once(url: str, cafile: str) -> Poll:
    """What a player does first: master, one media playlist, its init segment and first media segment."""
    at, pub = time.monotonic(), _publication(url)
    try:
        async with h3_connect(url, cafile=cafile, connect_timeout_s=10) as c:
            master = await c.get(url, timeout_s=10)
            if master.status != 200:
                return Poll(at, url, pub, False, f"master {master.status}")
            variant = parse_master(master.body, url).playlists[0]
            media_url = urljoin(url, variant.uri)
            media = await c.get(media_url, timeout_s=10)
            if media.status != 200:
                return Poll(at, url, pub, False, f"media playlist {media.status}")
            playlist = m3u8.loads(media.body.decode())
            wanted = [s.init_section.uri for s in playlist.segments[:1] if s.init_section] + [playlist.segments[0].uri]
            for part in wanted:
                r = await c.get(urljoin(media_url, part), timeout_s=10)
                if r.status != 200 or not r.body:
                    return Poll(at, url, pub, False, f"{part} {r.status}")
            return Poll(at, url, pub, True, variant.stream_info.codecs or "")
    except Exception as exc:  # a refused connection or a timeout is a failed poll, not a crashed poller
        return Poll(at, url, pub, False, f"{type(exc).__name__}: {exc}")


class Poller(threading.Thread):
    """A viewer that keeps starting the video: each poll reads the current playback_url from the API and plays
    it over HTTP/3; once the URL has changed it also replays the first URL, as a player still holding it."""

    def __init__(self, api_url: str, video_id: str, cafile: str, interval_s: float = 0.3,
                 handle: str = "viewer") -> None:
        super().__init__(daemon=True)
        self.api_url, self.video_id, self.cafile, self.interval_s = api_url, video_id, cafile, interval_s
        self.handle = handle  # "creator": sees the video before it plays (no playback URL yet), not a 404
        self.polls: list[Poll] = []
        self.held: list[Poll] = []  # the first URL, replayed after the switch
        self.stop = threading.Event()

    def run(self) -> None:
        client = ReelflowClient(self.api_url, handle=self.handle)
        first: str | None = None
        try:
            while not self.stop.is_set():
                try:
                    url = client.video(self.video_id)["playback_url"]
                except Exception as exc:  # the API failing to answer is a failed poll too
                    self.polls.append(Poll(time.monotonic(), "", "", False, f"API: {exc}"))
                    url = None
                if url:
                    first = first or url
                    self.polls.append(asyncio.run(_play_once(url, self.cafile)))
                    if url != first:
                        self.held.append(asyncio.run(_play_once(first, self.cafile)))
                self.stop.wait(self.interval_s)
        finally:
            client.close()


def test_reprocess_with_new_codecs_keeps_the_video_playable_through_the_switch(stack: Stack, clips):
    """A content team re-runs a ready video with another codec set (``reelflow reprocess``, Airflow's REST
    API): viewers starting it meanwhile never fail, they move from the old publication to the new one,
    and a player that loaded the old master keeps playing it after the switch (the superseded grace)."""
    cfg = stack.s
    client = ReelflowClient(cfg.api_url)
    video = client.upload(clips["portrait"], caption="re-run", hashtags=["e2e"])  # 3 s: the cheapest clip
    ready = client.wait_settled(video["id"], timeout_s=300)
    assert ready["state"] == "ready", ready
    old_url = ready["playback_url"]
    assert {r["name"].split("-")[0] for r in ready["renditions"]} == {"h264", "av1"}  # the stack's codecs
    cafile = str(cfg.home / "certs" / "edge-cert.pem")
    played = asyncio.run(_play_once(old_url, cafile))
    assert played.ok, played

    poller = Poller(cfg.api_url, video["id"], cafile)
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while len(poller.polls) < 3:  # the viewer is playing before the trigger
            assert poller.is_alive() and time.monotonic() < deadline, poller.polls
            time.sleep(0.2)
        triggered_at = time.monotonic()
        cli = Path(sys.executable).with_name("reelflow")  # the installed console script
        out = subprocess.run([str(cli), "reprocess", video["id"], "--codecs", "h264"], env=stack.child_env(),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "keeps serving until the new one is ready" in out.stdout, out.stdout
        run_id = re.search(r"Airflow run (reprocess__\S+) of ingest_video", out.stdout)
        assert run_id, out.stdout
        airflow = AirflowClient(cfg.airflow_url, cfg.airflow_user, cfg.airflow_password)

        deadline = time.monotonic() + 300
        while True:  # the switch: the API hands out another master
            current = client.video(video["id"])
            assert current.get("failure") is None, f"the re-run failed: {current['failure']}"
            assert current["state"] == "ready", current  # a re-run never takes a ready video off the feed
            if current["playback_url"] != old_url:
                break
            assert airflow.run_state("ingest_video", run_id.group(1)) != "failed", "the re-run's DAG run failed"
            assert time.monotonic() < deadline, "no switch within 300 s of the trigger"
            time.sleep(1)
        switched_at = time.monotonic()
        while time.monotonic() < switched_at + 6 or sum(p.publication != _publication(old_url)
                                                        for p in poller.polls) < 5:
            assert time.monotonic() < switched_at + 60, "the viewer saw too few plays of the new publication"
            time.sleep(0.2)
    finally:
        poller.stop.set()
        poller.join(30)

    polls = poller.polls
    failed = [p for p in polls + poller.held if not p.ok]
    assert not failed, failed[:5]
    old_pub, new_pub = _publication(old_url), _publication(current["playback_url"])
    assert old_pub != new_pub
    seen = [p.publication for p in polls]
    # Old, then new, never back: the switch happened while the viewer was watching, and once.
    assert seen[0] == old_pub and seen[-1] == new_pub
    assert seen == sorted(seen, key=lambda pub: pub == new_pub), seen
    assert sum(p.at < triggered_at for p in polls) >= 3 and any(p.at > switched_at + 5 for p in polls)
    assert sum(p.publication == old_pub and p.at > triggered_at for p in polls) >= 3  # served during the re-run

    # The new master lists the new codec set only; the API's renditions agree.
    new_codecs = {p.detail for p in polls if p.publication == new_pub}
    assert new_codecs and all(c.startswith("avc1.") for c in new_codecs), new_codecs
    assert {r["name"].split("-")[0] for r in current["renditions"]} == {"h264"}

    async def masters() -> tuple[m3u8.M3U8, m3u8.M3U8]:
        async with h3_connect(old_url, cafile=cafile) as c:
            old, new = [parse_master((await c.get(u)).body, u) for u in (old_url, current["playback_url"])]
            return old, new

    old_master, new_master = asyncio.run(masters())
    assert any("av01" in (v.stream_info.codecs or "") for v in old_master.playlists)
    assert not any("av01" in (v.stream_info.codecs or "") for v in new_master.playlists)

    # A player that loaded the old master before the switch keeps playing it: replays of the old URL after
    # the switch succeeded, and the origin still holds the old publication (deleted only after the grace).
    assert len(poller.held) >= 3 and all(p.publication == old_pub for p in poller.held)
    assert poller.held[-1].at > switched_at + 5
    from config.clients import origin_store

    store = origin_store(cfg)
    old_keys = store.list_keys(cfg.vod_bucket, f"v/{video['id']}/{old_pub}/")
    assert any(k.endswith("master.m3u8") for k in old_keys) and any("av1" in k for k in old_keys), old_keys[:5]

    async def play_old_to_the_end() -> list[int]:
        """Every segment of every rung of the old publication, most never requested before: from the origin."""
        statuses = []
        async with h3_connect(old_url, cafile=cafile) as c:
            for variant in old_master.playlists:
                media_url = urljoin(old_url, variant.uri)
                playlist = m3u8.loads((await c.get(media_url)).body.decode())
                for seg in playlist.segments:
                    statuses.append((await c.get(urljoin(media_url, seg.uri))).status)
        return statuses

    statuses = asyncio.run(play_old_to_the_end())
    assert statuses and set(statuses) == {200}, statuses
    client.close()
    print(f"re-run: {len(polls)} plays ({sum(p.publication == old_pub for p in polls)} old, "
          f"{sum(p.publication == new_pub for p in polls)} new) + {len(poller.held)} of the held old URL, 0 failed; "
          f"switch {switched_at - triggered_at:.1f} s after the trigger")


def test_a_new_video_plays_while_its_other_codecs_are_added(stack: Stack, tmp_path):
    """Progressive publish on the live stack: the video plays over HTTP/3 from its first H.264 ladder while AV1
    is still encoding, then from the full master after the switch, with no failed request; a player holding
    the first master keeps playing it; the creator's status stream reports every stage in order."""
    from media.samples import make_clip, unique_pattern

    cfg = stack.s
    clip = make_clip(tmp_path / "progressive.mp4", width=640, height=360, seconds=8.0, audio=True,
                     pattern=unique_pattern(16_016))
    client = ReelflowClient(cfg.api_url)
    cafile = str(cfg.home / "certs" / "edge-cert.pem")
    video = client.upload(clip, caption="progressive", hashtags=["e2e"])
    events: list[dict] = []
    stream = threading.Thread(target=lambda: events.extend(client.events(video["id"], timeout_s=300)), daemon=True)
    stream.start()
    poller = Poller(cfg.api_url, video["id"], cafile, interval_s=0.1, handle=client.handle)
    poller.start()
    try:
        ready = client.wait_settled(video["id"], timeout_s=300, poll_s=0.2)
        assert ready["state"] == "ready", ready
        switched_at = time.monotonic()
        while time.monotonic() < switched_at + 3:  # a few plays of the full master, and of the held first one
            time.sleep(0.2)
    finally:
        poller.stop.set()
        poller.join(30)
    stream.join(30)

    failed = [p for p in poller.polls + poller.held if not p.ok]
    assert not failed, failed[:5]
    first, full = [p for p in poller.polls if p.url.endswith("/playable.m3u8")], \
        [p for p in poller.polls if p.url.endswith("/master.m3u8")]
    assert first and full, [p.url for p in poller.polls]
    assert poller.polls[0].url.endswith("/playable.m3u8")  # playable before ready, and it played
    assert max(p.at for p in first) < min(p.at for p in full)  # first, then full, never back
    assert {p.publication for p in poller.polls} == {_publication(ready["playback_url"])}  # one prefix, two masters
    assert all(p.detail.startswith("avc1.") for p in first)
    assert poller.held and all(p.url.endswith("/playable.m3u8") for p in poller.held)

    async def masters() -> tuple[m3u8.M3U8, m3u8.M3U8]:
        async with h3_connect(first[0].url, cafile=cafile) as c:
            one, two = [parse_master((await c.get(u)).body, u) for u in (first[0].url, ready["playback_url"])]
            return one, two

    first_master, full_master = asyncio.run(masters())
    assert {v.stream_info.codecs.split(".")[0] for v in first_master.playlists} == {"avc1"}
    assert {v.stream_info.codecs.split(".")[0] for v in full_master.playlists} == {"avc1", "av01"}

    kinds = [e["kind"] for e in events]
    assert kinds == ["processing", "validated", "codec_encoded", "playable", "codec_encoded", "ready"], kinds
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    playable = events[kinds.index("playable")]
    assert playable["detail"]["playback_url"] == first[0].url
    assert events[-1]["detail"]["playback_url"] == ready["playback_url"]
    assert ready["playable_at"] and ready["playable_at"] <= ready["ready_at"]
    client.close()
    print(f"progressive: {len(first)} plays of the first master, {len(full)} of the full one, "
          f"{len(poller.held)} of the held first one, 0 failed")


def test_reladder_batch_reprocesses_through_ingest_runs_on_the_live_stack(stack: Stack, tmp_path):
    """The re-ladder DAG on the real scheduler: its chunk sensor triggers one ingest_video run per video
    through Airflow's REST API, waits for it (rescheduling, no slot held) and the summary counts it."""
    from media.samples import make_clip, unique_pattern

    cfg = stack.s
    client = ReelflowClient(cfg.api_url)
    airflow = AirflowClient(cfg.airflow_url, cfg.airflow_user, cfg.airflow_password)
    since = datetime.now(UTC)
    clip = make_clip(tmp_path / "batch.mp4", width=360, height=640, seconds=2.0, audio=False,
                     pattern=unique_pattern(8311))
    video = client.upload(clip, caption="batch", hashtags=["e2e"])
    ready = client.wait_settled(video["id"], timeout_s=300)
    assert ready["state"] == "ready" and {r["name"].split("-")[0] for r in ready["renditions"]} == {"h264", "av1"}

    deadline = time.monotonic() + 60
    while not airflow.ensure_unpaused("reladder_catalog"):
        assert time.monotonic() < deadline, "reladder_catalog never parsed"
        time.sleep(1)
    batch = f"e2e{RUN_TAG}"
    conf = {"created_after": since.isoformat(), "codecs": ["h264"], "chunk_size": 1, "max_in_flight": 1,
            "dry_run": False, "batch": batch}
    run_id = airflow.trigger("reladder_catalog", conf, run_id_prefix="e2e")
    triggered_at = time.monotonic()
    deadline = triggered_at + 300
    while (state := airflow.run_state("reladder_catalog", run_id)) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"the batch is still {state} after 300 s"
        time.sleep(2)
    ended_at = time.monotonic()
    assert state == "success", airflow.task_runs("reladder_catalog", run_id)
    chunk = next(t for t in airflow.task_runs("reladder_catalog", run_id) if t.task_id == "reladder_chunk")
    assert chunk.try_number == 1  # no retry: deferred between looks, never failed by a late executor event

    ingest_run = f"reladder:{batch}:{video['id']}"
    assert airflow.run_state("ingest_video", ingest_run) == "success"
    after = client.video(video["id"])
    assert after["pipeline_run_id"] == ingest_run and after.get("failure") is None
    assert {r["name"].split("-")[0] for r in after["renditions"]} == {"h264"}
    assert after["playback_url"] != ready["playback_url"]
    played = asyncio.run(_play_once(after["playback_url"], str(cfg.home / "certs" / "edge-cert.pem")))
    assert played.ok, played
    steps = {t.label: t.duration_s for t in airflow.task_runs("reladder_catalog", run_id)}
    print(f"re-ladder batch of 1 video: {ended_at - triggered_at:.1f} s from trigger to success; tasks {steps}")
    client.close()
    airflow.close()


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
