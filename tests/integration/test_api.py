"""The API over real PostgreSQL and S3; the pipeline is a recorder (the DAG has its own tests and e2e)."""

import secrets

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.airflow_api import PipelineUnavailable
from feed_api.app import create_app


class RecordingPipeline:
    def __init__(self) -> None:
        self.triggered: list[str] = []
        self.down = False

    def trigger_ingest(self, video_id: str) -> str:
        if self.down:
            raise PipelineUnavailable("Airflow at http://127.0.0.1:1 is unreachable")
        self.triggered.append(video_id)
        return f"upload_{video_id}__test"


@pytest.fixture()
def api(settings, store, catalog_url):
    pipeline = RecordingPipeline()
    with TestClient(create_app(settings, pipeline=pipeline)) as client:
        client.pipeline = pipeline
        # Uploads need a creator: a development token for a fresh user, sent with every request.
        token = client.post("/v1/auth/dev-token", json={"handle": f"creator_{secrets.token_hex(4)}"}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


def _create(api, size_bytes: int = 1000, **body):
    resp = api.post("/v1/videos", json={"caption": "hi", "hashtags": ["#Cats", "cats", "dogs"],
                                        "size_bytes": size_bytes, **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_create_upload_complete_get(api):
    created = _create(api, size_bytes=1000)
    video, upload = created["video"], created["upload"]
    assert video["state"] == "uploading" and video["hashtags"] == ["Cats", "dogs"]
    assert upload["method"] == "PUT" and upload["max_bytes"] > 0
    assert httpx.put(upload["url"], content=b"\x00" * 1000).status_code == 200
    resp = api.post(f"/v1/videos/{video['id']}/complete")
    assert resp.status_code == 202, resp.text
    assert resp.json()["state"] == "processing"
    assert resp.json()["pipeline_run_id"] == f"upload_{video['id']}__test"
    assert api.pipeline.triggered == [video["id"]]
    got = api.get(f"/v1/videos/{video['id']}").json()
    assert got["state"] == "processing" and got["playback_url"] is None and got["failure"] is None
    again = api.post(f"/v1/videos/{video['id']}/complete")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"
    assert api.pipeline.triggered == [video["id"]]


def test_complete_before_upload_is_refused_and_state_kept(api):
    vid = _create(api)["video"]["id"]
    resp = api.post(f"/v1/videos/{vid}/complete")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "upload_missing"
    assert api.get(f"/v1/videos/{vid}").json()["state"] == "uploading"


def test_pipeline_outage_answers_503_and_the_client_can_retry(api):
    created = _create(api, size_bytes=4)
    vid = created["video"]["id"]
    assert httpx.put(created["upload"]["url"], content=b"data").status_code == 200
    api.pipeline.down = True
    resp = api.post(f"/v1/videos/{vid}/complete")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "pipeline_unavailable"
    assert api.get(f"/v1/videos/{vid}").json()["state"] == "uploading"
    api.pipeline.down = False
    assert api.post(f"/v1/videos/{vid}/complete").status_code == 202


def test_uploads_are_bounded_at_the_store(api, store, settings):
    """The presigned PUT used to sign only the host: a 210 MiB body was stored, refused only at complete."""
    # No declared size, no upload URL.
    resp = api.post("/v1/videos", json={"caption": "no size"})
    assert resp.status_code == 422 and any(d["field"] == "size_bytes" for d in resp.json()["error"]["details"])
    # Over the limit: refused before anything is registered or stored.
    api.app.state.services.max_upload_bytes = 10
    try:
        resp = api.post("/v1/videos", json={"caption": "big", "size_bytes": 11})
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"
    finally:
        api.app.state.services.max_upload_bytes = settings.max_upload_bytes
    # Within the limit, a longer (or shorter) body than declared is refused by the store itself.
    created = _create(api, size_bytes=10)
    raw_key = f"uploads/{created['video']['id']}/source"
    for body in (b"x" * (210 * 1024), b"x" * 9):
        assert httpx.put(created["upload"]["url"], content=body).status_code == 403
        assert store.stat_size(settings.raw_bucket, raw_key) is None
    assert httpx.put(created["upload"]["url"], content=b"x" * 10).status_code == 200
    assert api.post(f"/v1/videos/{created['video']['id']}/complete").status_code == 202


@pytest.mark.parametrize("body,field", [
    ({"caption": "x" * 2201}, "caption"), ({"hashtags": ["no spaces allowed"]}, "hashtags"),
    ({"hashtags": ["t"] * 31}, "hashtags"), ({"caption": 5}, "caption"),
])
def test_bad_bodies_get_structured_422(api, body, field):
    resp = api.post("/v1/videos", json=body)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "invalid_request" and any(d["field"].startswith(field) for d in err["details"])


def test_unknown_and_malformed_ids(api):
    assert api.get("/v1/videos/0123456789abcdef").json()["error"]["code"] == "video_not_found"
    assert api.get("/v1/videos/0123456789abcdef").status_code == 404
    assert api.get("/v1/videos/../../etc").status_code in (404, 422)
    assert api.post("/v1/videos/NOT-AN-ID/complete").status_code == 422
    assert api.get("/healthz").json() == {"status": "ok"}


def test_uploads_need_a_token(api):
    resp = api.post("/v1/videos", json={"caption": "hi"}, headers={"Authorization": ""})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
