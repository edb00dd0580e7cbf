"""Operations through dag.test() on real PostgreSQL and S3: re-runs that keep a video playable, failed
re-runs, retries, the re-ladder batch (dry run, ingest runs in a window, resume, a failed video),
superseded-publication GC, the reprocess CLI against a stub of Airflow's REST API (and inline), and
``reelflow status``."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from datetime import UTC, datetime

import httpx
import pytest

from adapters.airflow_api import AirflowClient
from tests.pipeline import get_video as _video
from tests.pipeline import load_dag_module
from tests.pipeline import upload_raw as _upload

# Clips of their own (other modules publish the shared ones; a copy would be rejected as a duplicate).
PATTERNS = {"landscape": (640, 360, 4.0, True, "life:mold=10:ratio=0.5:seed=3:death_color=#C83232:life_color=#00ff00"),
            "portrait": (360, 640, 3.0, False, "cellauto:rule=90:seed=4242")}
STARTED: dict[str, datetime] = {}  # set when this module's videos are created; the re-ladder filters on it


def _load(name: str, attr: str):
    return getattr(load_dag_module(name), attr)


@pytest.fixture(scope="module")
def dags(settings, store, catalog_url, airflow_db):
    return {"ingest": _load("ingest_video", "INGEST_VIDEO"), "reladder": _load("reladder_catalog", "RELADDER_CATALOG")}


class StubAirflow:
    """Airflow's REST API as far as the CLI uses it, over httpx.MockTransport: records every trigger."""

    def __init__(self) -> None:
        self.triggers: list[dict] = []
        self.dags: list[str] = []  # the DAG of each trigger
        self.client = AirflowClient("http://airflow.test", "admin", "pw")
        self.client._http = httpx.Client(base_url="http://airflow.test", transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        assert request.headers["authorization"] == "Bearer t"
        if request.method == "POST" and (m := re.fullmatch(r"/api/v2/dags/(\w+)/dagRuns", request.url.path)):
            self.triggers.append(json.loads(request.content))
            self.dags.append(m.group(1))
            return httpx.Response(200, json={"state": "queued"})
        if request.method == "GET" and request.url.path == "/api/v2/dags/ingest_video/dagRuns":
            n = {"queued": 2, "running": 1}[request.url.params["state"]]
            return httpx.Response(200, json={"dag_runs": [], "total_entries": n})
        return httpx.Response(404, json={"detail": "not stubbed"})


@pytest.fixture(scope="module")
def published(dags, sessions, store, settings, tmp_path_factory) -> list[str]:
    """Two ready videos, H.264 only, made by this module (the re-ladder filters on STARTED)."""
    from media.samples import make_clip

    STARTED["at"] = datetime.now(UTC)
    ids = []
    for name, (w, h, seconds, audio, pattern) in PATTERNS.items():
        clip = make_clip(tmp_path_factory.mktemp("ops") / f"{name}.mp4", width=w, height=h, seconds=seconds,
                         audio=audio, pattern=pattern)
        vid = _upload(sessions, store, settings, clip)
        assert dags["ingest"].test(run_conf={"video_id": vid, "codecs": ["h264"]}).state == "success"
        video = _video(sessions, vid)
        assert video.state == "ready", f"{name}: {video.failure_code}: {video.failure_reason}"
        ids.append(vid)
    return ids


def test_rerun_with_new_codecs_keeps_the_old_publication_serving_until_the_switch(
        dags, published, sessions, store, settings, monkeypatch):
    from jobs import ingest
    from jobs.operations import collect_superseded

    vid = published[0]
    old = _video(sessions, vid)
    old_master, old_prefix = old.master_key, old.publish_prefix
    old_segments = [k for k in store.list_keys(settings.vod_bucket, old_prefix + "/") if k.endswith(".m4s")]
    assert old_segments
    seen: dict[str, object] = {}
    real_publish, real_mark_ready = ingest.publish, ingest.mark_ready

    def publish(run, package, thumbs=None, **kw):
        # Mid-run: the catalog still points at the old publication and the video stays listed as ready.
        v = _video(sessions, run.video_id)
        seen["during"] = (v.state, v.master_key)
        return real_publish(run, package, thumbs, **kw)

    def mark_ready(run, publication):
        # Just before the switch: the old master and every old segment are still fetchable, the new one is there.
        v = _video(sessions, run.video_id)
        seen["before_switch"] = (v.state, v.master_key)
        seen["old_fetchable"] = all(store.stat_size(settings.vod_bucket, k) for k in [old_master, *old_segments])
        seen["new_there"] = store.stat_size(settings.vod_bucket, publication.master_key) is not None
        real_mark_ready(run, publication)

    monkeypatch.setattr(ingest.steps, "publish", publish)
    monkeypatch.setattr(ingest.steps, "mark_ready", mark_ready)
    run = dags["ingest"].test(run_conf={"video_id": vid, "codecs": ["h264", "av1"]})
    assert run.state == "success"
    assert seen["during"] == ("ready", old_master)
    assert seen["before_switch"] == ("ready", old_master)
    assert seen["old_fetchable"] and seen["new_there"]
    new = _video(sessions, vid)
    assert new.state == "ready" and new.master_key != old_master and new.failure_code is None
    assert {r.name.split("-")[0] for r in new.renditions if r.kind == "video"} == {"h264", "av1"}
    assert store.stat_size(settings.vod_bucket, new.master_key)

    # Players that loaded the old master keep their segments through the grace period; then they go.
    kept = collect_superseded(settings, grace_s=3600)
    assert old_prefix in kept.kept_in_grace and not kept.deleted
    assert store.stat_size(settings.vod_bucket, old_master) is not None
    report = collect_superseded(settings, grace_s=0)
    assert old_prefix in report.deleted and report.deleted[old_prefix] > len(old_segments)
    assert store.list_keys(settings.vod_bucket, old_prefix + "/") == []
    assert store.stat_size(settings.vod_bucket, new.master_key) is not None  # the live one is untouched
    assert new.publish_prefix not in report.deleted


def test_failed_rerun_keeps_serving_is_listed_and_retried(dags, published, sessions, store, settings, capsys):
    from reelflow import ops_cli

    vid = published[1]
    before = _video(sessions, vid)
    raw = store.get(settings.raw_bucket, before.raw_key).body
    store.client.remove_object(settings.raw_bucket, before.raw_key)
    try:
        assert dags["ingest"].test(run_conf={"video_id": vid}).state == "success"
        after = _video(sessions, vid)
        assert (after.state, after.master_key) == ("ready", before.master_key)  # still serving the old one
        assert after.failure_code == "missing_upload" and after.failure_reason.startswith("re-run rejected")

        args = ops_cli.parse(["videos", "--state", "failed"])
        assert ops_cli._videos(args, settings) == 0
        out = capsys.readouterr().out
        assert f"{vid}  ready (serving the previous publication)" in out
        assert re.search(r"\d+ failed: .*missing_upload \d+", out)

        stub = StubAirflow()
        assert ops_cli._retry(ops_cli.parse(["retry"]), settings, stub.client) == 0
        assert vid in {t["conf"]["video_id"] for t in stub.triggers}  # with any other module's failed videos
        assert all(t["logical_date"] is None and t["dag_run_id"].startswith("retry__") for t in stub.triggers)
        stub = StubAirflow()
        assert ops_cli._retry(ops_cli.parse(["retry", "--code", "too_short"]), settings, stub.client) == 0
        assert vid not in {t["conf"]["video_id"] for t in stub.triggers}
    finally:
        store.put_bytes(settings.raw_bucket, before.raw_key, raw, content_type="video/mp4")
    # The retry succeeds once the upload is back, and clears the failure.
    assert dags["ingest"].test(run_conf={"video_id": vid}).state == "success"
    assert _video(sessions, vid).failure_code is None


def test_reprocess_cli_triggers_ingest_with_conf(published, settings, capsys):
    from reelflow import ops_cli

    stub = StubAirflow()
    args = ops_cli.parse(["reprocess", published[0], "--codecs", "h264,hevc"])
    assert ops_cli._reprocess(args, settings, stub.client) == 0
    (body,) = stub.triggers
    assert body["conf"] == {"video_id": published[0], "codecs": ["h264", "hevc"]}
    assert body["dag_run_id"].startswith("reprocess__") and body["logical_date"] is None
    assert "keeps serving" in capsys.readouterr().out
    assert ops_cli._reprocess(ops_cli.parse(["reprocess", "0000000000000000"]), settings, stub.client) == 1


def _returned(run, task_id: str):
    """What a task of a dag.test() run returned (its XCom)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as s:
        row = s.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id,
                                           key="return_value")).one()
        return XComModel.deserialize_value(row)


class IngestRunsAirflow(StubAirflow):
    """Airflow's REST API as the re-ladder batch uses it: runs triggered with chosen ids, listed by prefix.
    Standing in for the scheduler, a listing first runs every queued ingest run to its end, in this process,
    with the same steps as the DAG (``run_inline``); ``fail`` makes a video's run fail as a transcode would.
    ``max_active`` is the most runs ever queued or running at once."""

    def __init__(self, settings, fail: set[str] = frozenset()) -> None:
        super().__init__()
        self.settings, self.fail = settings, fail
        self.runs: dict[str, dict] = {}  # run id -> {"state", "conf"}, in trigger order
        self.max_active = 0
        self.uploads_queued = 0  # other ingest_video runs waiting in the queue
        self.auto_run = True  # False: runs stay queued (the scheduler is away)
        self.listing_delay_s = 0.0  # a slow API: widens the window between a look's read and its triggers

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = "/api/v2/dags/ingest_video/dagRuns"
        if request.method == "POST" and request.url.path == path:
            body = json.loads(request.content)
            if body["dag_run_id"] in self.runs:
                return httpx.Response(409, json={"detail": "exists"})
            self.triggers.append(body)
            self.runs[body["dag_run_id"]] = {"state": "queued", "conf": body["conf"]}
            self.max_active = max(self.max_active, sum(r["state"] == "queued" for r in self.runs.values()))
            return httpx.Response(200, json={"state": "queued"})
        if request.method == "GET" and request.url.path == path and "run_id_prefix_pattern" in request.url.params:
            time.sleep(self.listing_delay_s)
            if self.auto_run:
                self._schedule()
            q = request.url.params
            match = [(k, r["state"]) for k, r in self.runs.items() if k.startswith(q["run_id_prefix_pattern"])]
            page = match[int(q["offset"]):int(q["offset"]) + int(q["limit"])]
            return httpx.Response(200, json={"dag_runs": [{"dag_run_id": k, "state": st} for k, st in page],
                                             "total_entries": len(match)})
        if request.method == "GET" and request.url.path == path:  # a count by state
            st = request.url.params["state"]
            n = sum(r["state"] == st for r in self.runs.values()) + (self.uploads_queued if st == "queued" else 0)
            return httpx.Response(200, json={"dag_runs": [], "total_entries": n})
        return super().handle(request)

    def _schedule(self) -> None:
        from jobs import ingest

        for run_id, run in self.runs.items():
            if run["state"] != "queued":
                continue
            vid = run["conf"]["video_id"]
            if vid in self.fail:  # as the DAG: begin in validate, then a step fails and the callback marks it
                ingest.begin(ingest.IngestRun(self.settings, vid, run_id))
                ingest.mark_error(ingest.IngestRun(self.settings, vid, run_id),
                                  "processing failed in step 'transcode' (encoder crashed)")
                run["state"] = "failed"
            else:
                ingest.run_inline(self.settings, vid, run_id, run["conf"].get("codecs"))
                run["state"] = "success"


def test_reladder_dry_run_counts_then_processes_through_ingest_runs_in_a_window_and_resumes(
        dags, published, sessions, settings, monkeypatch):
    from config import clients
    from jobs import reladder

    params = {"created_after": STARTED["at"].isoformat(), "chunk_size": 1, "codecs": ["h264"], "max_in_flight": 1}
    expected = reladder.matching_videos(settings, reladder.LadderFilter.from_params(params, "b1"))
    assert sorted(expected) == sorted(published)
    before = {v: _video(sessions, v).pipeline_run_id for v in published}
    airflow = IngestRunsAirflow(settings)
    monkeypatch.setattr(clients, "airflow_client", lambda _settings: airflow.client)

    dry = dags["reladder"].test(run_conf={**params, "batch": "b1"})  # dry_run defaults to true
    assert dry.state == "success"
    states = {(ti.task_id, ti.map_index): ti.state for ti in dry.get_task_instances()}
    assert states[("count_matches", -1)] == "success" and states[("reladder_chunk", -1)] == "skipped"
    assert {v: _video(sessions, v).pipeline_run_id for v in published} == before  # nothing touched
    assert airflow.triggers == []

    run = dags["reladder"].test(run_conf={**params, "batch": "b1", "dry_run": False})
    assert run.state == "success"
    chunk_states = [ti.state for ti in run.get_task_instances() if ti.task_id == "reladder_chunk"]
    assert chunk_states == ["success", "success"]  # one chunk per video
    # One ingest_video run per video, with the batch's run id and the codecs; never two at once.
    run_ids = sorted(t["dag_run_id"] for t in airflow.triggers)
    assert run_ids == sorted(reladder.batch_run_id("b1", v) for v in published)
    assert all(t["conf"] == {"video_id": t["dag_run_id"].rsplit(":", 1)[1], "codecs": ["h264"]}
               for t in airflow.triggers)
    assert airflow.max_active == 1
    for vid in published:
        v = _video(sessions, vid)
        assert v.state == "ready" and v.pipeline_run_id == reladder.batch_run_id("b1", vid)
        assert {r.name.split("-")[0] for r in v.renditions if r.kind == "video"} == {"h264"}
    assert _returned(run, "summary") == {"done": 2, "failed": {}}

    # Resuming the same batch finds nothing left; a chunk looked at again starts nothing twice.
    assert reladder.matching_videos(settings, reladder.LadderFilter.from_params(params, "b1")) == []
    again = dags["reladder"].test(run_conf={**params, "batch": "b1", "dry_run": False})
    assert again.state == "success"
    assert {ti.state for ti in again.get_task_instances() if ti.task_id == "reladder_chunk"} == {"skipped"}
    step = reladder.advance_chunk(settings, "b1", published, None, max_in_flight=1, client=airflow.client)
    assert step.done and set(step.outcomes.values()) == {"ready"} and len(airflow.triggers) == 2
    forgotten = IngestRunsAirflow(settings)  # Airflow's run records cleaned up: the catalog still knows
    step = reladder.advance_chunk(settings, "b1", published, None, max_in_flight=1, client=forgotten.client)
    assert step.outcomes == dict.fromkeys(published, reladder.ALREADY_DONE) and forgotten.triggers == []
    # While an upload waits in ingest_video's queue, the batch starts nothing: it only fills idle capacity.
    waiting = IngestRunsAirflow(settings)
    waiting.uploads_queued = 1
    step = reladder.advance_chunk(settings, "b9", published, None, max_in_flight=2, client=waiting.client)
    assert step.start == [] and waiting.triggers == [] and step.waiting == published
    waiting.uploads_queued = 0
    step = reladder.advance_chunk(settings, "b9", published, None, max_in_flight=2, client=waiting.client)
    assert step.start == published and len(waiting.triggers) == 2
    # A run id that exists already is not an error (two looks raced): the trigger says it started nothing.
    assert airflow.client.trigger_run("ingest_video", "reladder:b1:x", {"video_id": "x"}) is True
    assert airflow.client.trigger_run("ingest_video", "reladder:b1:x", {"video_id": "x"}) is False
    del airflow.runs["reladder:b1:x"]
    # The run states are read page by page.
    assert airflow.client.run_states("ingest_video", "reladder:b1:", page=1) == dict.fromkeys(
        (reladder.batch_run_id("b1", v) for v in published), "success")

    # The missing-codec filter: neither has HEVC, both have H.264.
    assert sorted(reladder.matching_videos(settings, reladder.LadderFilter(
        created_after=STARTED["at"], missing_codec="hevc"))) == sorted(published)
    assert reladder.matching_videos(settings, reladder.LadderFilter(created_after=STARTED["at"],
                                                                     missing_codec="h264")) == []


def test_chunks_looking_at_once_never_overfill_the_window(published, settings):
    import threading

    from jobs import reladder

    airflow = IngestRunsAirflow(settings)
    airflow.auto_run, airflow.listing_delay_s = False, 0.5
    start = threading.Barrier(len(published))

    def look(video_id: str) -> None:  # one chunk per video, both looking at the same moment
        start.wait()
        reladder.advance_chunk(settings, "b-race", [video_id], None, max_in_flight=1, client=airflow.client)

    threads = [threading.Thread(target=look, args=(v,)) for v in published]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(airflow.triggers) == 1 and airflow.max_active == 1  # the second look saw the first's run


def test_a_reladder_batch_with_a_failed_video_ends_red_naming_it_and_the_video_keeps_serving(
        dags, published, sessions, settings, monkeypatch):
    from config import clients
    from jobs import reladder

    bad = published[0]
    master_before = _video(sessions, bad).master_key
    airflow = IngestRunsAirflow(settings, fail={bad})
    monkeypatch.setattr(clients, "airflow_client", lambda _settings: airflow.client)
    params = {"created_after": STARTED["at"].isoformat(), "chunk_size": 2, "codecs": ["h264"], "max_in_flight": 2,
              "batch": "b2", "dry_run": False}
    run = dags["reladder"].test(run_conf=params)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["reladder_chunk"] == "success" and states["summary"] == "failed"
    assert airflow.max_active == 2  # both in flight at once: the window allows two
    v = _video(sessions, bad)
    assert (v.state, v.master_key, v.failure_code) == ("ready", master_before, "processing_error")
    good = _video(sessions, published[1])
    assert good.pipeline_run_id == reladder.batch_run_id("b2", published[1]) and good.failure_code is None
    step = reladder.advance_chunk(settings, "b2", published, None, max_in_flight=1, client=airflow.client)
    assert step.outcomes[bad].startswith("failed: processing_error: re-run failed: processing failed in step")
    assert step.outcomes[published[1]] == "ready"
    # Clear the failure for the tests after this one (the old publication served all along).
    assert dags["ingest"].test(run_conf={"video_id": bad, "codecs": ["h264"]}).state == "success"
    assert _video(sessions, bad).failure_code is None


@pytest.mark.parametrize(("conf", "refused"), [({"batch": "a/b"}, "batch"), ({"batch": "x:y"}, "batch"),
                                               ({"max_in_flight": 0}, "max_in_flight")])
def test_reladder_params_refuse_a_batch_name_airflow_cannot_take_and_an_empty_window(dags, conf, refused):
    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dags["reladder"].params)
    with pytest.raises(ParamValidationError, match=refused):
        params.update(conf)
        params.validate()


def test_reladder_cli_counts_then_triggers_the_batch_with_its_filter(published, settings, capsys):
    from reelflow import ops_cli

    after = STARTED["at"].isoformat()
    stub = StubAirflow()
    args = ops_cli.parse(["reladder", "--created-after", after, "--codecs", "h264", "--max-in-flight", "2"])
    assert ops_cli._reladder(args, settings, stub.client) == 0
    assert "2 ready video(s) match" in capsys.readouterr().out and stub.triggers == []  # counting only

    go = ops_cli.parse(["reladder", "--created-after", after, "--codecs", "h264", "--batch", "cli1", "--go"])
    assert ops_cli._reladder(go, settings, stub.client) == 0
    (body,) = stub.triggers
    assert stub.dags == ["reladder_catalog"] and body["dag_run_id"].startswith("reladder__")
    assert body["conf"] == {"created_after": after, "codecs": ["h264"], "batch": "cli1", "dry_run": False}
    assert f"Airflow run {body['dag_run_id']} of reladder_catalog" in capsys.readouterr().out

    for bad in (["--created-after", "last tuesday"], ["--batch", "a/b"], ["--chunk-size", "0"],
                ["--missing-codec", "vp9"]):
        with pytest.raises(SystemExit):
            ops_cli.parse(["reladder", *bad])
    assert "not an ISO date/time: 'last tuesday'" in capsys.readouterr().err


def test_reprocess_inline_runs_the_pipeline_in_this_process(published, sessions, settings, capsys):
    from reelflow import ops_cli

    vid = published[1]
    before = _video(sessions, vid).master_key
    assert ops_cli._reprocess(ops_cli.parse(["reprocess", vid, "--inline", "--codecs", "h264"]), settings) == 0
    out = capsys.readouterr().out
    after = _video(sessions, vid)
    assert f"video {vid}: ready (run inline__" in out and after.pipeline_run_id.startswith("inline__")
    assert after.state == "ready" and after.master_key != before  # switched to the new publication
    assert ops_cli._reprocess(ops_cli.parse(["reprocess", "0000000000000000", "--inline"]), settings) == 1


def test_status_view(published, settings):
    from cdn_sim.metrics import EdgeMetrics
    from cdn_sim.server import build_cdn
    from cdn_sim.tier import CachedObject
    from reelflow.ops_cli import status_lines
    from reelflow.stack import ServiceStatus

    class Stack:
        def status(self):
            return [ServiceStatus("postgres", True, "127.0.0.1:5432", None, False),
                    ServiceStatus("edge", False, "https://localhost:8443", None, False)]

    # The edge's real exposition over a real tier chain: one miss then three hits at a POP.
    async def origin(key):
        return CachedObject(b"x" * 100, "video/mp4", "public, max-age=600", None)

    cdn = build_cdn(origin, edge_bytes=10_000)

    async def traffic():
        for _ in range(4):
            await cdn.get("vod/a.m4s", "eu", pop="eu-1")

    asyncio.run(traffic())
    metrics = EdgeMetrics(lambda: cdn.tiers).render().decode()
    text = "\n".join(status_lines(settings, stack=Stack(), client=StubAirflow().client, edge_metrics=metrics))
    assert "up    postgres" in text and "DOWN  edge" in text
    assert "ingest_video runs: 2 queued, 1 running" in text
    assert "ready " in text and "libx264" in text and "transcode_h264" in text
    assert "edge: hit ratio 75.0% (3 hits, 1 misses)" in text and "shield: hit ratio 0.0% (0 hits, 1 misses)" in text


def test_api_metrics_expose_the_pipeline(published, settings, store):
    from tests.integration.feed_helpers import make_client

    with make_client(settings) as api:
        text = api.get("/metrics").text
    ready = next(line for line in text.splitlines() if line.startswith('reelflow_pipeline_videos{state="ready"}'))
    assert float(ready.split()[-1]) >= 2
    assert 'reelflow_pipeline_renditions{encoder="libx264"}' in text
    assert 'reelflow_pipeline_step_seconds{quantile="0.5",step="transcode_h264"}' in text
    assert "reelflow_pipeline_published_bytes " in text and "reelflow_pending_purges " in text


def test_gpu_queue_is_a_setting_and_declares_the_gpu_codecs(dags, settings):
    from jobs import ingest

    assert dags["ingest"].get_task("transcode_gpu").queue == settings.gpu_queue == "default"
    celery = settings.model_copy(update={"gpu_queue": "gpu"})
    assert ingest.split_by_device(celery, ["h264", "av1", "hevc"]) == (["av1"], ["h264", "hevc"])
    no_gpu = celery.model_copy(update={"allow_gpu_encoders": False})
    assert ingest.split_by_device(no_gpu, ["h264", "av1"]) == (["h264", "av1"], [])


def test_unwatched_video_moves_to_cold_and_the_edge_serves_and_restores_it(published, sessions, store, settings):
    import time
    from datetime import timedelta

    from adapters.s3 import OriginConfig
    from jobs import tiering
    from reelflow.edge import build_app

    for name, attr in (("storage_tiering", "STORAGE_TIERING"), ("publication_gc", "PUBLICATION_GC")):
        assert _load(name, attr).task_ids  # the lifecycle DAGs parse
    vid = published[0]
    video = _video(sessions, vid)
    later = datetime.now(UTC) + timedelta(days=40)
    assert vid in tiering.cold_candidates(settings, days=30, now=later)
    assert vid not in tiering.cold_candidates(settings, days=30)  # published just now
    hot = store.list_keys(settings.vod_bucket, video.publish_prefix + "/")
    assert tiering.freeze(settings, [vid]).moved == {vid: len(hot)}
    assert store.list_keys(settings.vod_bucket, video.publish_prefix + "/") == []
    assert sorted(store.list_keys(settings.cold_bucket, video.publish_prefix + "/")) == sorted(hot)

    # The edge reads the cold bucket as a slower origin, then moves the whole publication back.
    app = build_app(OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key),
                    (settings.vod_bucket,), 10_000_000, cold_buckets={settings.vod_bucket: settings.cold_bucket})
    delivery = asyncio.run(app.cdn.get(f"{settings.vod_bucket}/{video.master_key}", "eu"))
    assert delivery.obj.body.startswith(b"#EXTM3U")
    deadline = time.monotonic() + 30
    while store.list_keys(settings.cold_bucket, video.publish_prefix + "/") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(store.list_keys(settings.vod_bucket, video.publish_prefix + "/")) == sorted(hot)
    assert store.list_keys(settings.cold_bucket, video.publish_prefix + "/") == []
    segment = next(k for k in hot if k.endswith(".m4s"))
    assert store.get(settings.vod_bucket, segment).cache_control.endswith("immutable")  # headers kept
    # A restore from the CLI side is the same move (nothing left in cold: nothing moved).
    assert tiering.restore(settings, vid) == 0


def test_a_deleted_video_in_the_cold_tier_is_never_served_or_restored(sessions, store, settings, tmp_path):
    """Frozen, then deleted: the edge used to serve its cold copy in every region and move it back to the hot
    bucket, and the delete never removed the cold copy."""
    from adapters.s3 import OriginConfig
    from catalog import videos as repo
    from catalog.db import session_scope
    from cdn_sim.tier import NotFound
    from jobs.purge import OriginTarget
    from reelflow.edge import build_app

    store.ensure_buckets(settings.cold_bucket)
    (tmp_path / "master.m3u8").write_text("#EXTM3U\n")
    frozen = {}
    for name in ("deleted", "kept"):
        with session_scope(sessions) as s:
            vid = repo.create_video(s, caption=name).id
            repo.start_processing(s, vid, run_id=name)
            repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p", master_key=f"v/{vid}/p/master.m3u8", renditions=[])
        for key in (f"v/{vid}/p/master.m3u8", f"v/{vid}/p/h264/360p/seg_00000.m4s"):  # as storage_tiering leaves it
            store.put_file(settings.cold_bucket, key, tmp_path / "master.m3u8", content_type="text/plain")
        frozen[name] = vid
    deleted, kept = frozen["deleted"], frozen["kept"]
    with session_scope(sessions) as s:  # DELETE /v1/videos/ID: the tombstone; the outbox has not run yet
        repo.tombstone(s, deleted)

    app = build_app(OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key),
                    (settings.vod_bucket,), 10_000_000, cold_buckets={settings.vod_bucket: settings.cold_bucket},
                    catalog_url=settings.database_url)
    for region in app.cdn.topology.regions:
        with pytest.raises(NotFound):
            asyncio.run(app.cdn.get(f"{settings.vod_bucket}/v/{deleted}/p/master.m3u8", region))
    # A video that still exists plays from the cold tier as before, and comes back to the hot bucket.
    assert asyncio.run(app.cdn.get(f"{settings.vod_bucket}/v/{kept}/p/master.m3u8", "eu")).obj.body == b"#EXTM3U\n"
    deadline = time.monotonic() + 30
    while not store.list_keys(settings.vod_bucket, f"v/{kept}/") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(store.list_keys(settings.vod_bucket, f"v/{kept}/")) == 2
    assert store.list_keys(settings.vod_bucket, f"v/{deleted}/") == []  # nothing of the deleted one came back

    # The outbox's removal reaches every tier of the origin, the cold one included.
    OriginTarget(store, settings.raw_bucket, settings.vod_bucket, settings.cold_bucket).remove(deleted)
    assert store.list_keys(settings.cold_bucket, f"v/{deleted}/") == []
    # A tier command for it finds nothing to move either.
    from jobs import tiering

    assert tiering.restore(settings, deleted) == 0 and tiering.freeze(settings, [deleted]).moved == {}
