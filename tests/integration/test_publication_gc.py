"""publication_gc over real PostgreSQL and S3 (SeaweedFS), without a DAG: a publication no catalog row points
to is collected once its run is over, never the one a video serves, never one a live run may be writing.
It used to look at ready videos only, so the objects of a publish that failed after its last retry stayed."""

from __future__ import annotations

import pytest

from catalog import videos as repo
from catalog.db import session_scope
from jobs.ingest import publication_id
from jobs.operations import collect_superseded

FILES = ("master.m3u8", "h264/240p/init.mp4", "h264/240p/seg_00000.m4s")


def _publish(store, settings, video_id: str, run_id: str) -> str:
    """What a run's publish step writes (its prefix is named by the run), as if it got that far."""
    prefix = f"v/{video_id}/{publication_id(run_id)}"
    for name in FILES:
        store.put_bytes(settings.vod_bucket, f"{prefix}/{name}", b"#EXTM3U\n", content_type="application/x-mpegurl")
    return prefix


def _switch(s, video_id: str, prefix: str, *, playable: bool = False) -> None:
    mark = repo.mark_playable if playable else repo.mark_ready
    mark(s, video_id, publish_prefix=prefix, master_key=f"{prefix}/master.m3u8", renditions=[])


@pytest.fixture()
def world(sessions, store, settings):
    """Videos in each situation, with the prefixes their runs wrote."""
    from jobs.ingest import IngestRun, mark_error

    p: dict[str, str] = {}
    with session_scope(sessions) as s:
        ids = {name: repo.create_video(s, caption=name).id for name in (
            "first_run_failed", "rerun_failed", "live_first_run", "playable_then_failed_codecs",
            "rejected_after_playable", "failed_then_live_rerun")}
        for name, vid in ids.items():
            repo.start_processing(s, vid, run_id=f"{name}-1")
    v = ids
    for name, vid in v.items():
        p[f"{name}-1"] = _publish(store, settings, vid, f"{name}-1")

    def fail(name: str, run: str) -> None:  # after the last retry: the DAG's on_failure_callback
        mark_error(IngestRun(settings, v[name], run), "processing failed in step 'release' (test)")

    fail("first_run_failed", "first_run_failed-1")  # its publish uploaded, then failed: nobody points to it
    with session_scope(sessions) as s:
        _switch(s, v["rerun_failed"], p["rerun_failed-1"])
        _switch(s, v["playable_then_failed_codecs"], p["playable_then_failed_codecs-1"], playable=True)
        _switch(s, v["rejected_after_playable"], p["rejected_after_playable-1"], playable=True)
        repo.mark_failed(s, v["rejected_after_playable"], code="duplicate", reason="test")
    fail("playable_then_failed_codecs", "playable_then_failed_codecs-1")  # keeps serving its playable ladder
    fail("failed_then_live_rerun", "failed_then_live_rerun-1")
    # A re-run of the ready video fails after its publish; the failed video's re-run is live, mid-publish.
    for name in ("rerun_failed", "failed_then_live_rerun"):
        with session_scope(sessions) as s:
            video = repo.get_video(s, v[name], for_update=True)
            if video.state == repo.VideoState.FAILED:
                repo.start_processing(s, v[name], run_id=f"{name}-2")
            else:
                repo.set_pipeline_run(s, v[name], f"{name}-2")
        p[f"{name}-2"] = _publish(store, settings, v[name], f"{name}-2")
    fail("rerun_failed", "rerun_failed-2")
    return v, p


def _there(store, settings, prefix: str) -> bool:
    return bool(store.list_keys(settings.vod_bucket, prefix + "/"))


def test_publications_of_ended_runs_are_collected_and_live_ones_never(world, store, settings, sessions):
    v, p = world
    orphans = {p["first_run_failed-1"], p["rerun_failed-2"], p["failed_then_live_rerun-1"]}
    served = {p["rerun_failed-1"], p["playable_then_failed_codecs-1"]}
    live = p["failed_then_live_rerun-2"]

    kept = collect_superseded(settings, grace_s=3600)  # every run just ended: in grace
    assert orphans <= set(kept.kept_in_grace) and not orphans & set(kept.deleted)
    assert all(_there(store, settings, prefix) for prefix in orphans)

    report = collect_superseded(settings, grace_s=0)
    assert orphans <= set(report.deleted) and all(report.deleted[o] == len(FILES) for o in orphans)
    assert not any(_there(store, settings, prefix) for prefix in orphans)
    # What a video points to stays: served (ready, or playable with its other codecs failed), and the
    # playable ladder of a video rejected later (a re-run starts from a new prefix anyway; not this GC's call).
    for prefix in (*served, p["rejected_after_playable-1"]):
        assert prefix not in report.deleted and _there(store, settings, prefix)
    # A run with no recorded end may still be writing: never touched, however old.
    assert live in report.kept_running and _there(store, settings, live)
    assert p["live_first_run-1"] not in report.deleted and _there(store, settings, p["live_first_run-1"])
    with session_scope(sessions) as s:
        assert repo.get_video(s, v["rerun_failed"]).state == "ready"
