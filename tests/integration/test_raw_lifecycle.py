"""The raw object is single-use, and the raw bucket has a lifecycle: over real PostgreSQL and the real S3 server
(SeaweedFS). ``complete`` seals the upload (a server-side copy to a key no URL names) and the pipeline reads
only that; a PUT through the old URL afterwards is a stray the lifecycle deletes. ``upload_lifecycle`` fails
uploads never completed and deletes their objects, and deletes the raw files of failed videos after the
retention and of deleted videos, never the raw file of a video that is processing or served."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from catalog import videos as repo
from catalog.db import session_scope
from feed_api.app import create_app
from jobs.ingest.run import IngestRun
from jobs.raw_lifecycle import sweep_raw
from jobs.uploads import abort_abandoned
from tests.integration.test_api import RecordingPipeline
from tests.integration.test_multipart_upload import MIB, PART, SIZE, _put_part, _register, _token
from tests.pipeline import get_video

DAY = timedelta(days=1)


@pytest.fixture()
def api(settings, store, catalog_url):
    pipeline = RecordingPipeline()
    with TestClient(create_app(settings.model_copy(update={"feed_ranker": False}), pipeline=pipeline)) as client:
        svc = client.app.state.services
        svc.multipart_threshold_bytes, svc.multipart_part_bytes = 6 * MIB, PART
        client.pipeline = pipeline
        client.headers.update(_token(client))
        yield client


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(SIZE)


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _etag(store, bucket: str, key: str) -> str:
    return store.client.stat_object(bucket, key).etag


def _pipeline_input(settings, vid: str, tmp_path) -> bytes:
    """What the ingest run reads: its own ``raw_key`` lookup and download."""
    run = IngestRun(settings, vid, f"test_{vid}")
    path = tmp_path / f"{vid}.source"
    run.download_source(path)
    return path.read_bytes()


def _single(api, body: bytes) -> tuple[str, str]:
    """A registered single-PUT upload with ``body`` stored through its URL; (video id, URL)."""
    resp = api.post("/v1/videos", json={"caption": "one put", "size_bytes": len(body)})
    assert resp.status_code == 201, resp.text
    vid, url = resp.json()["video"]["id"], resp.json()["upload"]["url"]
    assert httpx.put(url, content=body).status_code == 200
    return vid, url


def test_a_put_after_complete_changes_nothing_the_pipeline_reads(api, store, settings, sessions, tmp_path):
    first, second = os.urandom(4096), os.urandom(4096)
    vid, url = _single(api, first)
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    sealed, upload = f"sealed/{vid}/source", f"uploads/{vid}/source"
    assert get_video(sessions, vid).raw_key == sealed
    assert store.stat_size(settings.raw_bucket, upload) is None  # the upload key was emptied at complete
    etag = _etag(store, settings.raw_bucket, sealed)
    assert _sha(_pipeline_input(settings, vid, tmp_path)) == _sha(first)

    # The URL is still valid (until it expires): the attacker swaps the file while the pipeline runs.
    assert httpx.put(url, content=second).status_code == 200
    assert store.get(settings.raw_bucket, upload).body == second  # it landed, but where nothing reads
    assert _sha(_pipeline_input(settings, vid, tmp_path)) == _sha(first)
    assert _etag(store, settings.raw_bucket, sealed) == etag and get_video(sessions, vid).raw_key == sealed

    report = sweep_raw(settings)  # the lifecycle collects the stray at once, and keeps the raw file
    assert report.deleted.get(upload) == "stray" and sealed not in report.deleted
    assert store.stat_size(settings.raw_bucket, upload) is None
    assert _sha(store.get(settings.raw_bucket, sealed).body) == _sha(first)


def test_multipart_complete_seals_the_file_and_part_urls_are_dead(api, data, store, settings, sessions, tmp_path):
    vid, upload = _register(api)
    parts = upload["multipart"]["parts"]
    for part in parts:
        assert _put_part(part, data, PART).status_code == 200
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    assert get_video(sessions, vid).raw_key == f"sealed/{vid}/source"
    assert store.stat_size(settings.raw_bucket, f"uploads/{vid}/source") is None
    assert _sha(_pipeline_input(settings, vid, tmp_path)) == _sha(data)
    # A part URL names the completed upload: S3 refuses it, and the sealed file is unchanged.
    again = _put_part(parts[0], os.urandom(len(data)), PART)
    assert again.status_code == 404 and b"NoSuchUpload" in again.content
    assert _sha(_pipeline_input(settings, vid, tmp_path)) == _sha(data)


def test_a_complete_that_rolled_back_is_sealed_again_from_the_latest_upload(api, store, settings, sessions, tmp_path):
    first, second = os.urandom(64), os.urandom(64)
    vid, url = _single(api, first)
    api.pipeline.down = True
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 503
    video = get_video(sessions, vid)
    assert (video.state, video.raw_key) == ("uploading", f"uploads/{vid}/source")  # rolled back
    assert sweep_raw(settings).deleted.get(f"sealed/{vid}/source") is None  # its copy is kept while uploading
    assert httpx.put(url, content=second).status_code == 200  # still uploading: the creator may replace it
    api.pipeline.down = False
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    assert _pipeline_input(settings, vid, tmp_path) == second


def test_lifecycle_fails_never_completed_uploads_and_collects_raw_files(api, store, settings, sessions):
    bucket = settings.raw_bucket
    abandoned, _ = _single(api, b"never completed")
    failed, _ = _single(api, b"rejected by validate")
    processing, _ = _single(api, b"still being processed")
    deleted, _ = _single(api, b"deleted by its creator")
    for vid in (failed, processing, deleted):
        assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    with session_scope(sessions) as s:
        repo.mark_failed(s, failed, code="unsupported_codec", reason="test")
        legacy = repo.create_video(s, caption="completed before sealing")  # reads its upload key
        repo.start_processing(s, legacy.id, run_id="legacy")
        legacy = legacy.id
    store.put_bytes(bucket, f"uploads/{legacy}/source", b"legacy raw", content_type="video/mp4")
    assert api.delete(f"/v1/videos/{deleted}").status_code == 204
    store.put_bytes(bucket, f"sealed/{deleted}/source", b"left behind", content_type="video/mp4")  # purge missed it
    orphan = "uploads/0123456789abcdef/source"  # no such video: a registration that rolled back
    store.put_bytes(bucket, orphan, b"orphan", content_type="video/mp4")

    def present() -> set[str]:
        return {o.key for p in ("uploads/", "sealed/") for o in store.list_objects(bucket, p)}

    # Now: nothing has waited long enough, except the deleted video's file.
    assert abandoned not in abort_abandoned(settings).failed_videos
    now = sweep_raw(settings).deleted
    assert now.get(f"sealed/{deleted}/source") == "deleted"
    assert {f"uploads/{abandoned}/source", f"sealed/{failed}/source", f"sealed/{processing}/source",
            f"uploads/{legacy}/source", orphan} <= present()

    # A day later: the upload never completed fails and its object goes; so does the orphan.
    later = datetime.now(UTC) + DAY + timedelta(hours=1)
    report = abort_abandoned(settings, now=later)
    assert abandoned in report.failed_videos and f"uploads/{abandoned}/source" in report.deleted
    assert (get_video(sessions, abandoned).state, get_video(sessions, abandoned).failure_code) == (
        "failed", "upload_abandoned")
    assert api.post(f"/v1/videos/{abandoned}/complete").status_code == 409
    swept = sweep_raw(settings, now=later)
    assert swept.deleted.get(orphan) == "orphan" and f"sealed/{failed}/source" not in swept.deleted
    assert f"sealed/{failed}/source" in present()  # failed a day ago: kept for a re-run

    # Past the retention (7 days): the failed video's raw file goes; a processing one (new or legacy) never.
    report = sweep_raw(settings, now=datetime.now(UTC) + 8 * DAY)
    assert report.deleted.get(f"sealed/{failed}/source") == "failed"
    assert {f"sealed/{processing}/source", f"uploads/{legacy}/source"} <= present()
    assert f"sealed/{failed}/source" not in present() and f"uploads/{abandoned}/source" not in present()
    assert store.get(bucket, f"uploads/{legacy}/source").body == b"legacy raw"


def test_a_failed_video_re_run_keeps_its_raw_file(api, store, settings, sessions):
    vid, _ = _single(api, b"re-run me")
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    with session_scope(sessions) as s:
        repo.mark_failed(s, vid, code="processing_error", reason="test")
        repo.start_processing(s, vid, run_id="retry")  # an operator's re-run began
    assert f"sealed/{vid}/source" not in sweep_raw(settings, now=datetime.now(UTC) + 30 * DAY).deleted
    assert store.stat_size(settings.raw_bucket, f"sealed/{vid}/source") == len(b"re-run me")
