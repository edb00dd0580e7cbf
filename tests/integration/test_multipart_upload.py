"""Resumable multipart uploads over real PostgreSQL and the real S3 server (SeaweedFS): sizes refused before a
byte is stored, part URLs signed with their exact length, a dropped connection resumed byte-identical, parts
missing at completion, another user kept out, the creator client's resume and the lifecycle sweep."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from adapters.s3_multipart import MultipartStore, UploadNotFound
from catalog.db import session_scope
from catalog.models import Video
from feed_api.app import create_app
from jobs.uploads import abort_abandoned
from reelflow.creator_client import ReelflowClient, UploadInterrupted, state_path
from tests.integration.test_api import RecordingPipeline
from tests.pipeline import get_video, load_dag_module

MIB = 2**20
PART = 5 * MIB  # S3's minimum part size: SeaweedFS answers EntityTooSmall to smaller ones at completion
SIZE = 2 * PART + 123_457  # three parts: 5 MiB, 5 MiB and a short last one


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(SIZE)


def _token(client: TestClient) -> dict[str, str]:
    token = client.post("/v1/auth/dev-token", json={"handle": f"mp_{secrets.token_hex(4)}"}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


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
def mp(settings, store) -> MultipartStore:
    from config.clients import multipart_store

    return multipart_store(settings)


def _register(api, size: int = SIZE) -> tuple[str, dict]:
    resp = api.post("/v1/videos", json={"caption": "big", "size_bytes": size})
    assert resp.status_code == 201, resp.text
    return resp.json()["video"]["id"], resp.json()["upload"]


def _put_part(part: dict, data: bytes, part_size: int) -> httpx.Response:
    start = (part["part_number"] - 1) * part_size
    return httpx.put(part["url"], content=data[start:start + part["size_bytes"]])


def _drop_mid_body(url: str, body: bytes) -> None:
    """Send the headers and half the body, then close the connection: a phone losing its network mid-part."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(f"PUT {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {len(body)}\r\n\r\n"
                  .encode() + body[: len(body) // 2])


def test_small_declared_upload_is_one_put_signed_with_its_length(api, store, settings):
    vid, upload = _register(api, 1000)
    assert upload["multipart"] is None and upload["size_bytes"] == 1000
    assert "content-length" in upload["url"].lower()  # X-Amz-SignedHeaders=content-length;host
    bigger = httpx.put(upload["url"], content=b"x" * 1001)
    assert bigger.status_code == 403 and b"SignatureDoesNotMatch" in bigger.content
    assert store.stat_size(settings.raw_bucket, f"uploads/{vid}/source") is None
    assert httpx.put(upload["url"], content=b"x" * 1000).status_code == 200
    resp = api.post(f"/v1/videos/{vid}/complete")
    assert resp.status_code == 202 and resp.json()["state"] == "processing", resp.text


def test_declared_size_over_the_limit_is_refused_before_anything_is_stored(api, sessions, mp, settings):
    api.app.state.services.max_upload_bytes = 10 * MIB
    before = {u.upload_id for u in mp.list_uploads(settings.raw_bucket)}
    resp = api.post("/v1/videos", json={"caption": "huge", "size_bytes": 10 * MIB + 1})
    assert resp.status_code == 413, resp.text
    problem = resp.json()
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "too_large" and "limit is 10 MiB" in problem["detail"]
    assert {u.upload_id for u in mp.list_uploads(settings.raw_bucket)} == before  # no multipart upload started
    with session_scope(sessions) as s:  # and no video registered
        assert s.scalar(select(func.count()).select_from(Video).where(Video.caption == "huge")) == 0
    assert api.post("/v1/videos", json={"size_bytes": 0}).status_code == 422


def test_interrupted_multipart_upload_resumes_and_the_stored_file_is_byte_identical(api, data, store, settings):
    vid, upload = _register(api)
    mp_target = upload["multipart"]
    assert upload["url"] is None and upload["size_bytes"] == SIZE
    assert (mp_target["part_size"], mp_target["part_count"]) == (PART, 3) and mp_target["uploaded"] == []
    parts = {p["part_number"]: p for p in mp_target["parts"]}
    assert [parts[n]["size_bytes"] for n in (1, 2, 3)] == [PART, PART, SIZE - 2 * PART]

    # Parts 1 and 3 arrive; part 2's connection drops half-way through its body.
    assert _put_part(parts[1], data, PART).status_code == 200
    assert _put_part(parts[3], data, PART).status_code == 200
    _drop_mid_body(parts[2]["url"], data[PART:2 * PART])

    early = api.post(f"/v1/videos/{vid}/complete")
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "parts_missing" and early.json()["missing_parts"] == [2]
    assert "part 2 of 3 is not uploaded" in early.json()["detail"]
    assert api.get(f"/v1/videos/{vid}").json()["state"] == "uploading"

    resumed = api.get(f"/v1/videos/{vid}/upload")
    assert resumed.status_code == 200, resumed.text
    target = resumed.json()["multipart"]
    assert target["upload_id"] == mp_target["upload_id"]
    assert [(p["part_number"], p["size_bytes"]) for p in target["uploaded"]] == [(1, PART), (3, SIZE - 2 * PART)]
    assert [p["part_number"] for p in target["parts"]] == [2]  # only the missing part, with a fresh URL
    assert _put_part(target["parts"][0], data, PART).status_code == 200

    done = api.post(f"/v1/videos/{vid}/complete")
    assert done.status_code == 202 and done.json()["state"] == "processing", done.text
    assert api.pipeline.triggered == [vid]
    stored = store.get(settings.raw_bucket, f"sealed/{vid}/source").body
    assert len(stored) == SIZE and hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert api.get(f"/v1/videos/{vid}/upload").status_code == 409  # processing: nothing to resume


def test_a_part_sent_twice_is_listed_once_and_the_file_is_joined_right(api, data, store, settings):
    vid, upload = _register(api)
    parts = upload["multipart"]["parts"]
    for part in [*parts, parts[0]]:  # part 1 again: SeaweedFS then lists it twice
        assert _put_part(part, data, PART).status_code == 200
    target = api.get(f"/v1/videos/{vid}/upload").json()["multipart"]
    assert [p["part_number"] for p in target["uploaded"]] == [1, 2, 3] and target["parts"] == []
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    assert store.get(settings.raw_bucket, f"sealed/{vid}/source").body == data


def test_a_part_body_of_another_length_than_signed_is_refused_by_s3(api, data, mp, settings):
    vid, upload = _register(api)
    part = upload["multipart"]["parts"][0]
    for body in (data[: PART + 1], data[: PART - 1]):
        resp = httpx.put(part["url"], content=body)
        assert resp.status_code == 403 and b"SignatureDoesNotMatch" in resp.content
    # Nothing was stored: S3 checks the signature before taking the body.
    assert mp.list_parts(settings.raw_bucket, f"uploads/{vid}/source", upload["multipart"]["upload_id"]) == []
    missing = api.get(f"/v1/videos/{vid}/upload").json()["multipart"]["parts"]
    assert [p["part_number"] for p in missing] == [1, 2, 3]


def test_another_user_cannot_resume_or_complete_someone_elses_upload(api, data):
    vid, upload = _register(api)
    for part in upload["multipart"]["parts"]:
        assert _put_part(part, data, PART).status_code == 200
    intruder = _token(api)
    resume = api.get(f"/v1/videos/{vid}/upload", headers=intruder)
    assert resume.status_code == 403 and resume.json()["code"] == "forbidden" and "multipart" not in resume.json()
    complete = api.post(f"/v1/videos/{vid}/complete", headers=intruder)
    assert complete.status_code == 403 and api.pipeline.triggered == []
    assert api.get(f"/v1/videos/{vid}").json()["state"] == "uploading"
    assert api.get("/v1/videos/0123456789abcdef/upload").status_code == 404
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202  # the owner still can


def test_parts_joined_before_an_outage_are_completed_by_the_retry(api, data, store, settings):
    vid, upload = _register(api)
    for part in upload["multipart"]["parts"]:
        assert _put_part(part, data, PART).status_code == 200
    api.pipeline.down = True
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 503  # the parts are joined; the answer rolled back
    api.pipeline.down = False
    target = api.get(f"/v1/videos/{vid}/upload").json()["multipart"]
    assert target["assembled"] is True and target["parts"] == []
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202
    assert store.get(settings.raw_bucket, f"sealed/{vid}/source").body == data


class DroppingTransport(httpx.BaseTransport):
    """Real HTTP to the object store that drops every connection once ``drop_after`` parts got through;
    records each part number sent."""

    def __init__(self, drop_after: int | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.drop_after = drop_after
        self.sent: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.drop_after is not None and len(self.sent) >= self.drop_after:
            raise httpx.ConnectError("network is unreachable", request=request)
        self.sent.append(int(request.url.params.get("partNumber", 0)))
        return self.inner.handle_request(request)


def test_creator_client_resumes_after_a_dropped_connection_sending_only_missing_parts(
        api, data, store, settings, tmp_path, monkeypatch):
    monkeypatch.setattr("reelflow.creator_client.time.sleep", lambda s: None)
    clip = tmp_path / "big.mp4"
    clip.write_bytes(data)
    states = tmp_path / "uploads"

    flaky = DroppingTransport(drop_after=1)
    first = ReelflowClient("http://testserver", http=api, storage_http=httpx.Client(transport=flaky))
    with pytest.raises(UploadInterrupted, match="part 2 of 3.*again to resume"):
        first.upload(clip, caption="resumed", state_dir=states)
    assert flaky.sent == [1]
    assert state_path(states, "http://testserver", clip).exists()

    steady = DroppingTransport()
    seen: list[tuple[int, int]] = []
    second = ReelflowClient("http://testserver", http=api, storage_http=httpx.Client(transport=steady))
    video = second.upload(clip, caption="resumed", state_dir=states, progress=lambda d, t: seen.append((d, t)))
    assert steady.sent == [2, 3]  # part 1 was not sent again
    assert video["state"] == "processing" and api.pipeline.triggered == [video["id"]]
    assert seen[0] == (PART, SIZE) and seen[-1] == (SIZE, SIZE)
    assert store.get(settings.raw_bucket, f"sealed/{video['id']}/source").body == data
    assert not state_path(states, "http://testserver", clip).exists()

    # A third call finds no state: a new upload (the state file is what resumes, not the file name).
    third = ReelflowClient("http://testserver", http=api, storage_http=httpx.Client(transport=DroppingTransport()))
    assert third.upload(clip, state_dir=states)["id"] != video["id"]


class SlowStartTransport(DroppingTransport):
    """Waits before its first request, long enough for the URLs handed out at registration to expire."""

    def __init__(self, wait_s: float) -> None:
        super().__init__()
        self.wait_s = wait_s
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.wait_s:
            time.sleep(self.wait_s)
            self.wait_s = 0
        response = super().handle_request(request)
        response.read()
        self.statuses.append(response.status_code)
        return response


def test_creator_client_asks_for_fresh_urls_when_they_expired(api, data, store, settings, tmp_path):
    api.app.state.services.presign_expiry_s = 3
    clip = tmp_path / "slow.mp4"
    clip.write_bytes(data)
    slow = SlowStartTransport(wait_s=3.5)
    client = ReelflowClient("http://testserver", http=api, storage_http=httpx.Client(transport=slow))
    video = client.upload(clip, state_dir=tmp_path / "uploads")
    assert slow.statuses[0] == 403 and slow.statuses[-1] == 200  # refused as expired, then sent on a fresh URL
    assert video["state"] == "processing"
    assert store.get(settings.raw_bucket, f"sealed/{video['id']}/source").body == data


def test_lifecycle_aborts_abandoned_uploads_fails_their_videos_and_drops_their_parts(
        api, data, mp, sessions, settings):
    waiting, upload = _register(api)
    assert _put_part(upload["multipart"]["parts"][0], data, PART).status_code == 200
    key, upload_id = f"uploads/{waiting}/source", upload["multipart"]["upload_id"]
    orphan = mp.create(settings.raw_bucket, "uploads/ffffffffffffffff/source")  # a registration that rolled back

    assert upload_id not in abort_abandoned(settings).aborted  # started just now: kept
    report = abort_abandoned(settings, now=datetime.now(UTC) + timedelta(hours=25))
    assert f"{key} {upload_id}" in report.aborted
    assert f"uploads/ffffffffffffffff/source {orphan}" in report.aborted
    assert report.failed_videos.count(waiting) == 1
    video = get_video(sessions, waiting)
    assert (video.state, video.failure_code) == ("failed", "upload_abandoned")
    with pytest.raises(UploadNotFound):  # the parts are gone
        mp.list_parts(settings.raw_bucket, key, upload_id)
    assert all(u.upload_id != upload_id for u in mp.list_uploads(settings.raw_bucket))
    assert api.get(f"/v1/videos/{waiting}").json()["failure"]["code"] == "upload_abandoned"
    assert api.post(f"/v1/videos/{waiting}/complete").status_code == 409


def test_upload_lifecycle_dag_runs_the_sweep(api, data, mp, sessions, settings, airflow_db):
    dag = load_dag_module("upload_lifecycle").UPLOAD_LIFECYCLE
    assert dag.task_ids == ["abort_abandoned", "sweep_raw"] and dag.max_active_runs == 1
    waiting, upload = _register(api)
    assert _put_part(upload["multipart"]["parts"][0], data, PART).status_code == 200
    run = dag.test(run_conf={"max_age_s": 0})
    assert run.state == "success"
    assert get_video(sessions, waiting).failure_code == "upload_abandoned"
    with pytest.raises(UploadNotFound):
        mp.list_parts(settings.raw_bucket, f"uploads/{waiting}/source", upload["multipart"]["upload_id"])
