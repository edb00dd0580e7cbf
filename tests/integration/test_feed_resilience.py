"""The feed API when its helpers fail: Redis stopped mid-run (a private redis-server, never the machine's
shared one) and the edge's purge endpoint over real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import redis

from adapters.edge_admin import EdgePurger, PurgeFailed
from catalog.db import session_scope
from catalog.models import Video
from tests.conftest import TMP, free_port
from tests.integration.feed_helpers import Person, all_pages, make_client, ready_video, word


@pytest.fixture()
def private_redis():
    server = shutil.which("redis-server")
    if not server:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(TMP)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield url, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_feeds_survive_redis_stopping_mid_run(settings, store, catalog_url, sessions, private_redis):
    url, proc = private_redis
    tag = f"t{word()}"
    with make_client(settings, redis_url=url) as api:
        me, creator, blocked = Person(api, interests=(tag,)), Person(api), Person(api)
        vids = [ready_video(sessions, creator.id, tags=(tag,), hours_ago=i) for i in range(8)]
        bad = ready_video(sessions, blocked.id, tags=(tag,))
        api.post(f"/v1/users/{blocked.id}/block", headers=me.headers)
        before = api.get("/v1/feed", params={"limit": 3}, headers=me.headers).json()
        assert before["source"].startswith("pool") and len(before["items"]) == 3

        proc.kill()  # Redis goes away mid-session
        proc.wait(timeout=10)

        # The session continues from PostgreSQL: pages keep coming, no repeats within the fallback session.
        during, pages = all_pages(api, me.headers, {"limit": 4, "cursor": before["next_cursor"]}, max_pages=200)
        assert pages[0]["source"] == "trending_catalog" and len(pages[0]["items"]) == 4
        ids = [i["id"] for i in during]
        assert len(ids) == len(set(ids)) and bad not in ids and set(vids) <= set(ids)
        fresh = api.get("/v1/feed", headers=me.headers)  # a new session too
        assert fresh.status_code == 200 and fresh.json()["items"]
        trending = api.get("/v1/feed", params={"type": "trending"}, headers=me.headers)
        assert trending.status_code == 200 and trending.json()["items"]
        assert api.get("/v1/feed", params={"type": "hashtag", "tag": tag}, headers=me.headers).json()["items"]

        # Writes keep working: views de-duplicated against the log, counters straight into PostgreSQL.
        batch = {"events": [{"video_id": vids[0], "kind": "view_start"}, {"video_id": vids[0], "kind": "complete",
                                                                         "watch_ms": 4000}]}
        assert api.post("/v1/interactions", json=batch, headers=me.headers).json()["counted_views"] == 1
        assert api.post("/v1/interactions", json=batch, headers=me.headers).json()["counted_views"] == 0
        assert api.post(f"/v1/videos/{vids[0]}/like", headers=me.headers).json()["likes"] == 1
        with session_scope(sessions) as s:
            v = s.get(Video, vids[0])
            assert (v.view_count, v.completions, v.like_count, v.watch_ms_total) == (1, 2, 1, 8000)
        # Rate limits fail open, and the outage shows in the metrics.
        assert api.get(f"/v1/users/{me.id}", headers=me.headers).status_code == 200
        assert 'reelflow_feed_fallbacks_total{reason="redis_down"}' in api.get("/metrics").text


class _Edge(BaseHTTPRequestHandler):
    calls: list[str] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        type(self).calls.append(self.path)
        body = json.dumps({"video": self.path.rsplit("/", 1)[-1], "total": 3}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_edge_purger_speaks_http_to_the_admin_endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Edge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        purger = EdgePurger(f"http://127.0.0.1:{server.server_port}/")
        purger.purge_video("0123456789abcdef")
        assert _Edge.calls == ["/admin/purge/0123456789abcdef"]
        _Edge.status = 403
        with pytest.raises(PurgeFailed, match="403"):
            purger.purge_video("0123456789abcdef")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(PurgeFailed, match="unreachable"):
        EdgePurger(f"http://127.0.0.1:{free_port()}", timeout_s=1).purge_video("0123456789abcdef")


def _unavailable(resp, caplog, what: str) -> None:
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "5"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "unavailable" and what in resp.json()["detail"]
    lines = [r for r in caplog.records if r.name == "feed_api" and "unavailable" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line per request, no traceback
    assert "Traceback" not in caplog.text


def test_catalog_down_answers_503_with_retry_after_and_one_log_line(settings, caplog):
    """PostgreSQL down used to answer 500 with a traceback per request."""
    down = f"postgresql+psycopg://reelflow@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    with make_client(settings, database_url=down) as api:
        caplog.set_level("WARNING", logger="feed_api")
        caplog.clear()
        _unavailable(api.get(f"/v1/videos/{'0' * 16}"), caplog, "catalog")
        caplog.clear()
        _unavailable(api.post("/v1/users", json={"handle": f"u_{word(8)}"}), caplog, "catalog")


def test_object_store_down_answers_503_on_complete(settings, catalog_url, caplog):
    """S3 down used to make POST /v1/videos/{id}/complete answer 500."""
    with make_client(settings, s3_endpoint=f"http://127.0.0.1:{free_port()}") as api:  # nothing listens there
        person = Person(api)
        created = api.post("/v1/videos", json={"caption": "x", "size_bytes": 1000}, headers=person.headers)
        assert created.status_code == 201, created.text  # a presigned URL is signed here, without the store
        caplog.set_level("WARNING", logger="feed_api")
        caplog.clear()
        resp = api.post(f"/v1/videos/{created.json()['video']['id']}/complete", headers=person.headers)
        _unavailable(resp, caplog, "object store")
