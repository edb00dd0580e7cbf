"""Ingest staging: the pipeline's steps on different machines (REELFLOW_STAGING=s3), on the real S3 server.

"Another machine" is a step run with a work dir of its own, so it finds nothing any earlier step wrote
locally; only the raw bucket and the staging prefix connect the steps, as between Celery hosts.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from catalog import videos as repo
from catalog.db import session_scope
from jobs import ingest, staging
from jobs.ingest import IngestRun
from jobs.operations import collect_stale_staging
from jobs.staging import Need, Staging, StagingError
from media.codecs import Codec
from media.samples import make_clip
from tests.hls_checks import check_package, download_prefix
from tests.pipeline import load_dag_module, upload_raw


def _upload(sessions, store, settings, clip: Path, run_id: str) -> str:
    return upload_raw(sessions, store, settings, clip, run_id=run_id)


def _staged(store, settings, vid: str, run_id: str) -> list[str]:
    prefix = staging.staging_prefix(vid, ingest.publication_id(run_id))
    return sorted(k[len(prefix):] for k in store.list_keys(ingest.staging_bucket(settings), prefix))


# -- which files each step makes and needs (no services) ---------------------------------------------

H264 = [SimpleNamespace(name="h264-240p", kind="video", playlist="h264/240p/index.m3u8"),
        SimpleNamespace(name="h264-360p", kind="video", playlist="h264/360p/index.m3u8")]
AUDIO = [SimpleNamespace(name="audio", kind="audio", playlist="audio/index.m3u8")]


def test_each_step_declares_what_it_makes_and_needs():
    # Each rung's own directory: a codec's ladder may be encoded in parts, on different machines.
    assert staging.transcode_outputs(H264) == ["hls/h264/240p", "hls/h264/360p"]
    assert staging.transcode_outputs([]) == []  # a silent video's audio step makes nothing
    assert staging.package_inputs([H264, AUDIO]) == [
        Need("hls/audio", ("hls/audio/index.m3u8",)),
        Need("hls/h264/240p", ("hls/h264/240p/index.m3u8",)), Need("hls/h264/360p", ("hls/h264/360p/index.m3u8",))]
    assert staging.package_outputs(H264 + AUDIO) == [
        "hls/master.m3u8", "hls/h264/240p/iframes.m3u8", "hls/h264/360p/iframes.m3u8"]
    needs = staging.publish_inputs(H264 + AUDIO,
                                   SimpleNamespace(poster="thumbs/poster.jpg", sprite_vtt="thumbs/sprite.vtt"))
    assert [n.part for n in needs] == ["hls/audio", "hls/h264/240p", "hls/h264/360p", "hls/master.m3u8",
                                       "hls/h264/240p/iframes.m3u8", "hls/h264/360p/iframes.m3u8", "hls/thumbs"]
    assert needs[-1].files == ("hls/thumbs/poster.jpg", "hls/thumbs/sprite.vtt")
    assert staging.playlist_references('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\nseg_00000.m4s\n'
                                       "#EXT-X-BYTERANGE:10@0\nseg_00000.m4s\n") == ["init.mp4", "seg_00000.m4s"]
    for bad in ("../etc/passwd", "/abs/index.m3u8", "index.m3u8"):
        with pytest.raises(ValueError):
            staging.rendition_dir(bad)


def test_missing_files_names_a_playlist_s_absent_segments(tmp_path):
    rung = tmp_path / "hls" / "h264" / "240p"
    rung.mkdir(parents=True)
    (rung / "index.m3u8").write_text('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\nseg_00000.m4s\n'
                                     "#EXTINF:2,\nseg_00001.m4s\n#EXT-X-ENDLIST\n")
    (rung / "init.mp4").write_bytes(b"i")
    (rung / "seg_00000.m4s").write_bytes(b"s")
    needs = staging.package_inputs([H264])
    assert staging.missing_files(tmp_path, needs) == ["hls/h264/240p/seg_00001.m4s", "hls/h264/360p/index.m3u8"]
    with pytest.raises(StagingError, match=r"package cannot find 2 input file\(s\).*seg_00001.m4s.*STAGING=s3"):
        Staging(tmp_path).pull(needs, step="package")


def test_sweep_removes_only_run_dirs_untouched_for_the_age(tmp_path):
    old, fresh = tmp_path / "vidA" / "pub1", tmp_path / "vidB" / "pub2"
    for d in (old, fresh):
        (d / "hls").mkdir(parents=True)
        (d / "hls" / "seg.m4s").write_bytes(b"x")
    week_ago = time.time() - 7 * 86400
    for p in (old, old / "hls", old / "hls" / "seg.m4s"):
        os.utime(p, (week_ago, week_ago))
    assert staging.sweep_scratch(tmp_path, 3600) == [old]
    assert not (tmp_path / "vidA").exists() and (fresh / "hls" / "seg.m4s").exists()
    assert staging.sweep_scratch(tmp_path / "absent", 3600) == []


# -- moving files through the real S3 server ------------------------------------------------------------

def test_push_is_idempotent_drops_stale_files_and_pull_replaces_partial_ones(store, settings, tmp_path):
    prefix = f"staging/push-test-{os.getpid()}/p/"
    one, two = tmp_path / "one", tmp_path / "two"
    rung = one / "hls" / "h264" / "240p"
    rung.mkdir(parents=True)
    (rung / "a.m4s").write_bytes(b"a" * 100)
    (rung / "b.m4s").write_bytes(b"b" * 100)
    writer = Staging(one, store, settings.raw_bucket, prefix)
    assert writer.push(["hls/h264"]) == 2
    (rung / "b.m4s").unlink()  # a retried attempt that made fewer files on another machine
    assert writer.push(["hls/h264"]) == 1
    assert store.list_keys(settings.raw_bucket, prefix) == [f"{prefix}hls/h264/240p/a.m4s"]
    # A partial file left here by an attempt that died is replaced, not trusted.
    (two / "hls" / "h264" / "240p").mkdir(parents=True)
    (two / "hls" / "h264" / "240p" / "a.m4s").write_bytes(b"a" * 10)
    reader = Staging(two, store, settings.raw_bucket, prefix)
    assert reader.pull([Need("hls/h264")], step="test") == 1
    assert (two / "hls" / "h264" / "240p" / "a.m4s").read_bytes() == b"a" * 100
    assert reader.pull([Need("hls/h264")], step="test") == 0  # all present: nothing fetched again
    # Needs that overlap (publish's: a rung's directory and its I-frame playlist) fetch each file once;
    # two downloads of one file raced on minio's shared ".part" name and failed the step.
    third = Staging(tmp_path / "three", store, settings.raw_bucket, prefix)
    assert third.pull([Need("hls/h264"), Need("hls/h264/240p/a.m4s")], step="test") == 1
    with pytest.raises(StagingError, match="nothing at"):
        writer.push(["hls/av1"])
    assert writer.drop() == 1 and store.list_keys(settings.raw_bucket, prefix) == []


def test_steps_on_different_machines_publish_a_playable_package(settings, sessions, store, catalog_url, tmp_path,
                                                                monkeypatch):
    run_id = "staging-two-workers"
    clip = make_clip(tmp_path / "staged.mp4", width=640, height=360, seconds=2.0, audio=True,
                     pattern="life:seed=57:mold=5")
    vid = _upload(sessions, store, settings, clip, run_id)
    # link: a near-copy found among other tests' videos must not turn this test into a rejection.
    base = settings.model_copy(update={"staging": "s3", "codecs": ["h264"], "dedup_policy": "link"})

    def on(machine: str) -> IngestRun:
        return IngestRun(base.model_copy(update={"work_dir": tmp_path / machine}), vid, run_id)

    source = ingest.validate(on("validate"))
    assert _staged(store, settings, vid, run_id) == ["samples.npz"]

    # From here on a full scan would mean the samples were not found in staging: make it fail loudly.
    def no_scan(*_a, **_k):
        raise AssertionError("a later step re-scanned the upload instead of reading the staged samples")

    monkeypatch.setattr(ingest.steps, "scan", no_scan)
    ingest.dedup(on("dedup"))
    video_parts = ingest.transcode(on("cpu"), source, ingest.EncodeJob(Codec.H264, "libx264"))
    audio_part = ingest.transcode_audio(on("audio"), source)
    thumbs = ingest.thumbnails(on("thumbs"), source)
    assert not (tmp_path / "cpu" / vid).joinpath(ingest.publication_id(run_id), "hls", "audio").exists()
    package = ingest.package(on("package"), source, [video_parts, audio_part])
    staged = _staged(store, settings, vid, run_id)
    assert {"hls/master.m3u8", "hls/h264/240p/iframes.m3u8", "hls/audio/index.m3u8", "hls/thumbs/sprite.vtt",
            "hls/h264/360p/index.m3u8"} <= set(staged)
    publication = ingest.publish(on("publish"), package, thumbs)
    ingest.mark_ready(IngestRun(base, vid, run_id), publication)

    video = repo_video(sessions, vid)
    assert video.state == "ready", video.failure_reason
    assert {r.name for r in video.renditions} == {"h264-240p", "h264-360p", "audio"}
    root = tmp_path / "published"
    keys = download_prefix(store, settings.vod_bucket, video.publish_prefix, root)
    check_package(root, expect_audio=True)
    assert f"{video.publish_prefix}/{thumbs.poster}" in keys and video.poster_key in keys

    # The teardown on yet another machine removes the staged copy and its own dir.
    ingest.cleanup(on("publish"))
    assert _staged(store, settings, vid, run_id) == []
    assert not on("publish").work_dir.exists()


def repo_video(sessions, vid: str):
    with session_scope(sessions) as s:
        return repo.get_video(s, vid)


def test_local_staging_names_the_rendition_package_cannot_find(settings, sessions, store, catalog_url, tmp_path):
    run_id = "staging-local-missing"
    clip = make_clip(tmp_path / "local.mp4", width=640, height=360, seconds=2.0, audio=False,
                     pattern="life:seed=91:mold=3")
    vid = _upload(sessions, store, settings, clip, run_id)
    local_settings = settings.model_copy(update={"staging": "local", "codecs": ["h264"], "dedup_policy": "link",
                                                 "work_dir": tmp_path / "host"})
    local = IngestRun(local_settings, vid, run_id)
    source = ingest.validate(local)
    parts = [ingest.transcode(local, source, ingest.EncodeJob(Codec.H264, "libx264"))]
    assert _staged(store, settings, vid, run_id) == []  # local staging uploads nothing
    hls = local.work_dir / "hls" / "h264"
    (hls / "240p" / "seg_00000.m4s").unlink()
    with pytest.raises(StagingError, match=rf"package of video {vid} cannot find 1 input file\(s\) in "
                                           r".*: hls/h264/240p/seg_00000\.m4s; the steps that make them"):
        ingest.package(local, source, parts)
    # On another machine (its own work dir) nothing is there: every playlist is named.
    elsewhere = IngestRun(local_settings.model_copy(update={"work_dir": tmp_path / "other-host"}), vid, run_id)
    with pytest.raises(StagingError, match="hls/h264/240p/index.m3u8, hls/h264/360p/index.m3u8"):
        ingest.package(elsewhere, source, parts)
    assert not (local.work_dir / "hls" / "master.m3u8").exists()
    ingest.cleanup(local)


def test_gc_removes_staging_of_runs_that_died_only_once_it_is_old(settings, store, tmp_path):
    prefix = f"staging/gc-test-{os.getpid()}/deadrun/"
    (tmp_path / "f").write_bytes(b"x")
    store.put_file(settings.raw_bucket, f"{prefix}hls/h264/240p/seg_00000.m4s", tmp_path / "f",
                   content_type="application/octet-stream")
    store.put_file(settings.raw_bucket, f"{prefix}samples.npz", tmp_path / "f", content_type="application/octet-stream")
    assert prefix not in collect_stale_staging(settings)  # just written: a run may still be using it
    assert len(store.list_keys(settings.raw_bucket, prefix)) == 2
    report = collect_stale_staging(settings, now=datetime.now(UTC) + timedelta(days=3))
    assert report[prefix] == 2
    assert store.list_keys(settings.raw_bucket, prefix) == []


def test_ingest_dag_with_s3_staging_and_a_machine_per_task(settings, sessions, store, catalog_url, airflow_db,
                                                           tmp_path, monkeypatch):

    from airflow.sdk import get_current_context

    from config.settings import get_settings

    module = load_dag_module("ingest_video", "ingest_video_dag_staging")
    monkeypatch.setenv("REELFLOW_STAGING", "s3")
    monkeypatch.setenv("REELFLOW_DEDUP_POLICY", "link")
    monkeypatch.setenv("REELFLOW_WORK_DIR", str(tmp_path / "scratch"))
    # H.264's ladder in two parts on two hosts (240p playable first, 360p later): neither may drop the other's.
    monkeypatch.setenv("REELFLOW_PLAYABLE_MAX_SHORT_SIDE", "240")
    get_settings.cache_clear()
    real_work_dir = IngestRun.work_dir

    def machine_per_task(run: IngestRun) -> Path:  # every task on a host of its own
        return real_work_dir.fget(run) / get_current_context()["task_instance"].task_id

    monkeypatch.setattr(IngestRun, "work_dir", property(machine_per_task))
    try:
        clip = make_clip(tmp_path / "dag.mp4", width=640, height=360, seconds=2.0, audio=True,
                         pattern="life:seed=123:mold=7")
        with session_scope(sessions) as s:
            video = repo.create_video(s, caption="staged dag")
            vid, key = video.id, video.raw_key
        store.client.fput_object(settings.raw_bucket, key, str(clip))
        run = module.INGEST_VIDEO.test(run_conf={"video_id": vid, "codecs": ["h264"]})
        assert run.state == "success"
        video = repo_video(sessions, vid)
        assert video.state == "ready", video.failure_reason
        hosts = {p.name for p in (tmp_path / "scratch" / vid).glob("*/*")}
        # the tasks really had separate dirs
        assert {"validate", "playable", "transcode", "publish"} <= hosts
        assert {r.name for r in video.renditions} == {"h264-240p", "h264-360p", "audio"}
        root = tmp_path / "published"
        download_prefix(store, settings.vod_bucket, video.publish_prefix, root)
        check_package(root, expect_audio=True)
        assert _staged(store, settings, vid, run.run_id) == []  # the cleanup teardown removed the staged copy
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_cleanup_with_s3_down_removes_the_local_dir_and_does_not_raise(settings, tmp_path, caplog):
    # Raising would run the failure callback, which would mark a just-published video failed.
    down = settings.model_copy(update={"staging": "s3", "s3_endpoint": f"http://127.0.0.1:{_closed_port()}",
                                       "work_dir": tmp_path})
    run = IngestRun(down, "vid0000000000000", "run-s3-down")
    local = run.work_dir
    local.mkdir(parents=True)
    (local / "samples.npz").write_bytes(b"x")
    ingest.cleanup(run)
    assert not local.exists()
    assert "publication_gc will" in caplog.text


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: connections are refused
