"""Shared helpers for the feed API tests: an app over the per-run catalog and Redis, users, ready videos."""

from __future__ import annotations

import secrets
import string
from datetime import timedelta

from fastapi.testclient import TestClient

from adapters.edge_admin import PurgeFailed
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Video, utcnow
from feed_api.app import create_app


class RecordingPipeline:
    def __init__(self) -> None:
        self.triggered: list[str] = []

    def trigger_ingest(self, video_id: str) -> str:
        self.triggered.append(video_id)
        return f"upload_{video_id}__test"


class FakePurger:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.down = False

    def purge_video(self, video_id: str) -> None:
        self.calls.append(video_id)
        if self.down:
            raise PurgeFailed("edge at http://127.0.0.1:1 is unreachable")


def make_client(settings, **overrides) -> TestClient:
    """An app over the test services. The trained ranker is off unless asked for (``feed_ranker=True``):
    models another module published in the shared S3 would otherwise load TensorFlow in every app."""
    cfg = settings.model_copy(update={"rate_limit_per_s": 10_000.0, "rate_limit_burst": 10_000,
                                      "feed_ranker": False, **overrides})
    client = TestClient(create_app(cfg, pipeline=RecordingPipeline(), purger=FakePurger()))
    client.purger = client.app.state.services.purger
    return client


def word(n: int = 6) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))


class Person:
    def __init__(self, api: TestClient, *, region: str = "eu", interests: tuple[str, ...] = ()) -> None:
        handle = f"u_{word(10)}"
        resp = api.post("/v1/users", json={"handle": handle, "region": region, "interests": list(interests)})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        self.id, self.handle = body["user"]["id"], handle
        self.headers = {"Authorization": f"Bearer {body['token']['access_token']}"}


def ready_video(sessions, creator: str, *, tags: tuple[str, ...] = (), privacy: str = "public",
                sound: str | None = None, category: str | None = None, region: str | None = None,
                hours_ago: float = 0.0, state: str = "ready") -> str:
    """A video as the pipeline leaves it, written straight to the catalog (the DAG has its own tests)."""
    with session_scope(sessions) as s:
        v = repo.create_video(s, caption=f"clip {word(4)}", hashtags=list(tags), creator_id=creator, privacy=privacy,
                              sound_id=sound, category=category, region=region)
        vid = v.id
        if state in ("ready", "processing"):
            repo.start_processing(s, vid, run_id="test")
        if state == "ready":
            prefix = f"v/{vid}/pub1"
            repo.mark_ready(s, vid, publish_prefix=prefix, master_key=f"{prefix}/master.m3u8", renditions=[],
                            poster_key=f"{prefix}/thumbs/poster_720.jpg")
            if hours_ago:
                video = s.get(Video, vid)
                video.ready_at = video.playable_at = utcnow() - timedelta(hours=hours_ago)
    return vid


def all_pages(api: TestClient, headers: dict, params: dict, *, max_pages: int = 60) -> tuple[list[dict], list[dict]]:
    """Every item of a feed by following next_cursor; (items, pages)."""
    items, pages, cursor = [], [], None
    for _ in range(max_pages):
        resp = api.get("/v1/feed", params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        pages.append(page)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    return items, pages


def clear_live_keys(settings) -> int:
    """Delete this run's keys (its own prefix) from the shared Redis: counters and trending have no TTL."""
    import redis

    r = redis.Redis.from_url(settings.redis_url)
    keys = list(r.scan_iter(f"{settings.redis_prefix}*", count=1000))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i:i + 500])
    r.close()
    return len(keys)
