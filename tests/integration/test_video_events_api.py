"""The creator's status stream (GET /v1/videos/{id}/events, Server-Sent Events) and notifications
(/v1/me/notifications) over real PostgreSQL and Redis. Events are recorded through the catalog, committed from
another thread while the client reads the stream, as the pipeline's tasks would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from catalog import video_events
from catalog import videos as repo
from catalog.db import session_scope
from catalog.video_events import EventKind
from feed_api import status_stream
from tests.integration.feed_helpers import Person, ready_video

PROBLEM = "application/problem+json"


pytestmark = pytest.mark.usefixtures("live_keys_cleared")


@pytest.fixture(autouse=True)
def _short_lifetime(monkeypatch):
    # A stream that failed to end on its own would otherwise hold a test for the full 10 minutes.
    monkeypatch.setattr(status_stream, "MAX_STREAM_S", 20.0)


def new_video(sessions, creator: str, *, processing: bool = False) -> str:
    with session_scope(sessions) as s:
        vid = repo.create_video(s, caption="status", creator_id=creator).id
        if processing:
            repo.start_processing(s, vid, run_id="run1")
    return vid


def step(sessions, fn: Callable[[Session], object]) -> None:
    with session_scope(sessions) as s:
        fn(s)


def validated(vid: str) -> Callable[[Session], object]:
    return lambda s: video_events.record(s, vid, EventKind.VALIDATED, {"duration_s": 4.0}, run_id="run1")


def playable(vid: str) -> Callable[[Session], object]:
    return lambda s: repo.mark_playable(s, vid, publish_prefix=f"v/{vid}/p1", master_key=f"v/{vid}/p1/master.m3u8",
                                        renditions=[])


def encoded(vid: str, codec: str) -> Callable[[Session], object]:
    return lambda s: video_events.record(s, vid, EventKind.CODEC_ENCODED, {"codec": codec}, run_id="run1")


def ready(vid: str) -> Callable[[Session], object]:
    return lambda s: repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p2", master_key=f"v/{vid}/p2/master.m3u8",
                                     renditions=[])


def in_background(sessions, steps: list[Callable[[Session], object]], *, gap_s: float = 0.3) -> threading.Thread:
    """Commit each step in its own transaction, ``gap_s`` apart, from another thread (as pipeline tasks do)."""
    def run() -> None:
        for fn in steps:
            time.sleep(gap_s)
            step(sessions, fn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def sse_items(resp) -> Iterator[dict]:
    """Each event ({"id", "event", "data"}) or comment ({"comment"}) as it arrives on the wire."""
    block: dict = {}
    for line in resp.iter_lines():
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line:
            name, _, value = line.partition(": ")
            block[name] = json.loads(value) if name == "data" else value
        elif "event" in block:
            yield block
            block = {}
        else:
            block = {}  # the retry block


def events_of(resp) -> list[dict]:
    return [item for item in sse_items(resp) if "event" in item]


def stored(sessions, vid: str) -> list[tuple[int, str]]:
    with session_scope(sessions) as s:
        return [(e.id, e.kind) for e in video_events.since(s, vid, 0)]


def playback_url(api, key: str) -> str:
    return api.app.state.services.playback_url(key)


def stream(api, vid: str, headers: dict, **kwargs):
    return api.stream("GET", f"/v1/videos/{vid}/events", headers=headers, timeout=30, **kwargs)


# ------------------------------------------------------------------------------------------- the stream
def test_stream_replays_then_follows_every_stage_in_order_and_ends_after_ready(api, sessions):
    creator = Person(api)
    vid = new_video(sessions, creator.id, processing=True)
    started = time.monotonic()
    with stream(api, vid, creator.headers) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-store"
        # Recorded only once the stream is open: these arrive by following, not by the replay.
        writer = in_background(sessions, [validated(vid), playable(vid), encoded(vid, "h264"), encoded(vid, "av1"),
                                          ready(vid)])
        got = events_of(resp)  # returns when the server ends the stream
    writer.join(10)
    assert time.monotonic() - started < 10
    assert [e["event"] for e in got] == ["processing", "validated", "playable", "codec_encoded", "codec_encoded",
                                         "ready"]
    assert [(int(e["id"]), e["event"]) for e in got] == stored(sessions, vid)
    for e in got:
        assert e["data"]["kind"] == e["event"] and e["data"]["video_id"] == vid
        assert datetime.fromisoformat(e["data"]["at"]).tzinfo is not None
    assert got[1]["data"]["detail"] == {"duration_s": 4.0}
    # The catalog's object key reaches the creator as the edge URL the video plays from.
    assert got[2]["data"]["detail"]["playback_url"] == playback_url(api, f"v/{vid}/p1/master.m3u8")
    assert "master_key" not in got[2]["data"]["detail"]
    assert [e["data"]["detail"]["codec"] for e in got[3:5]] == ["h264", "av1"]


def test_resume_with_last_event_id_or_after_repeats_nothing(api, sessions):
    creator = Person(api)
    vid = new_video(sessions, creator.id, processing=True)
    step(sessions, validated(vid))
    (processing_id, _), (validated_id, _) = stored(sessions, vid)

    # ?after= alone, then a Last-Event-ID past it wins (what an EventSource sends on reconnecting).
    with stream(api, vid, creator.headers, params={"after": processing_id}) as resp:
        first = next(i for i in sse_items(resp) if "event" in i)
    assert (int(first["id"]), first["event"]) == (validated_id, "validated")
    with stream(api, vid, {**creator.headers, "Last-Event-ID": str(validated_id)},
                params={"after": processing_id}) as resp:
        writer = in_background(sessions, [playable(vid), ready(vid)], gap_s=0.2)
        resumed = events_of(resp)
    writer.join(10)
    assert [e["event"] for e in resumed] == ["playable", "ready"]
    assert all(int(e["id"]) > validated_id for e in resumed)

    # After the end, a reconnect with the last id gets 204 (an EventSource stops); from the start, a full replay.
    resp = api.get(f"/v1/videos/{vid}/events", headers={**creator.headers, "Last-Event-ID": resumed[-1]["id"]})
    assert resp.status_code == 204 and resp.content == b""
    with stream(api, vid, creator.headers) as resp:
        assert [e["event"] for e in events_of(resp)] == ["processing", "validated", "playable", "ready"]


def test_a_finished_video_replays_and_closes_at_once(api, sessions):
    creator = Person(api)
    vid = ready_video(sessions, creator.id)
    started = time.monotonic()
    with stream(api, vid, creator.headers) as resp:
        assert [e["event"] for e in events_of(resp)] == ["processing", "ready"]
    assert time.monotonic() - started < 3
    # What the OpenAPI document promises for the route: the stream's media type and the 204 after the end.
    documented = api.get("/openapi.json").json()["paths"]["/v1/videos/{video_id}/events"]["get"]["responses"]
    assert list(documented["200"]["content"]) == ["text/event-stream"] and "204" in documented
    assert {"401", "403", "404", "422"} <= set(documented)


def test_a_rejected_upload_carries_code_and_reason_and_ends_the_stream(api, sessions):
    creator = Person(api)
    vid = new_video(sessions, creator.id, processing=True)
    reject = lambda s: repo.mark_failed(s, vid, code="duplicate", reason="a copy of video 0123456789abcdef")  # noqa: E731
    with stream(api, vid, creator.headers) as resp:
        writer = in_background(sessions, [validated(vid), reject])
        got = events_of(resp)
    writer.join(10)
    assert [e["event"] for e in got] == ["processing", "validated", "rejected"]
    assert got[-1]["data"]["detail"] == {"code": "duplicate", "reason": "a copy of video 0123456789abcdef"}
    page = api.get("/v1/me/notifications", headers=creator.headers).json()
    assert [(n["kind"], n["video_id"], n["read"]) for n in page["items"]] == [("video_rejected", vid, False)]
    assert page["items"][0]["detail"]["code"] == "duplicate" and page["unread"] == 1


def test_an_idle_stream_sends_keep_alives_holds_no_connection_and_ends_at_its_lifetime(api, sessions, monkeypatch):
    monkeypatch.setattr(status_stream, "KEEPALIVE_S", 0.4)
    monkeypatch.setattr(status_stream, "MAX_STREAM_S", 2.0)
    creator = Person(api)
    vid = new_video(sessions, creator.id)  # uploading: no event yet, none coming
    pool = api.app.state.services.sessions.kw["bind"].pool
    started, idle = time.monotonic(), []
    with stream(api, vid, creator.headers) as resp:
        items = []
        for item in sse_items(resp):
            items.append(item)
            if "comment" in item:
                idle.append(pool.checkedout())  # the stream sleeps right after a keep-alive
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 5 and items and all(i == {"comment": "keep-alive"} for i in items)
    assert len(items) >= 3 and idle and set(idle) == {0}


def test_the_stream_ends_when_the_video_is_deleted(api, sessions):
    creator = Person(api)
    vid = new_video(sessions, creator.id, processing=True)
    started = time.monotonic()
    with stream(api, vid, creator.headers) as resp:
        writer = in_background(sessions, [lambda s: repo.tombstone(s, vid)])
        assert [e["event"] for e in events_of(resp)] == ["processing"]
    writer.join(10)
    assert time.monotonic() - started < 5


def test_only_the_creator_may_read_the_stream(api, sessions):
    creator, stranger = Person(api), Person(api)
    vid = new_video(sessions, creator.id, processing=True)
    step(sessions, lambda s: repo.mark_failed(s, vid, code="corrupt", reason="secret reason"))

    def refused(headers: dict, status: int, code: str, video: str = vid, **kwargs) -> None:
        resp = api.get(f"/v1/videos/{video}/events", headers=headers, **kwargs)
        assert resp.status_code == status and resp.headers["content-type"] == PROBLEM, resp.text
        assert resp.json()["code"] == code
        assert "secret" not in resp.text and "corrupt" not in resp.text and "processing" not in resp.text

    refused(stranger.headers, 403, "forbidden")  # as every owner-only route answers
    refused({**stranger.headers, "Last-Event-ID": "0"}, 403, "forbidden", params={"after": 0})
    refused({}, 401, "unauthenticated")
    refused({"Authorization": "Bearer forged"}, 401, "invalid_token")
    refused(creator.headers, 404, "video_not_found", video="0" * 16)
    bad = api.get(f"/v1/videos/{vid}/events", headers={**creator.headers, "Last-Event-ID": "abc"})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert api.delete(f"/v1/videos/{vid}", headers=creator.headers).status_code == 204
    refused(creator.headers, 404, "video_not_found")  # deleted: not even its creator
    refused(stranger.headers, 404, "video_not_found")


# ------------------------------------------------------------------------------------------- notifications
def test_notifications_list_page_and_mark_read_for_their_user_only(api, sessions):
    alice, bob = Person(api), Person(api)
    first = new_video(sessions, alice.id, processing=True)
    second = new_video(sessions, alice.id, processing=True)
    step(sessions, playable(first))
    step(sessions, lambda s: repo.mark_failed(s, second, code="too_long", reason="over 10 minutes"))
    step(sessions, ready(first))  # ready notifies nobody: playable already told the creator

    page = api.get("/v1/me/notifications", headers=alice.headers).json()
    assert [(n["kind"], n["video_id"]) for n in page["items"]] == [("video_rejected", second),
                                                                   ("video_playable", first)]
    assert page["unread"] == 2 and page["next_before"] is None
    newest, older = page["items"]
    assert newest["id"] > older["id"] and older["detail"]["playback_url"] == playback_url(
        api, f"v/{first}/p1/master.m3u8")
    one = api.get("/v1/me/notifications", params={"limit": 1}, headers=alice.headers).json()
    assert [n["id"] for n in one["items"]] == [newest["id"]] and one["next_before"] == newest["id"]
    rest = api.get("/v1/me/notifications", params={"limit": 1, "before": one["next_before"]},
                   headers=alice.headers).json()
    assert [n["id"] for n in rest["items"]] == [older["id"]]

    # Bob sees none of them and cannot mark them read, whatever id he names.
    assert api.get("/v1/me/notifications", headers=bob.headers).json() == {"items": [], "unread": 0,
                                                                          "next_before": None}
    mark = api.post("/v1/me/notifications/read", json={"up_to_id": newest["id"]}, headers=bob.headers)
    assert mark.status_code == 200 and mark.json() == {"marked": 0, "unread": 0}
    assert api.get("/v1/me/notifications", headers=alice.headers).json()["unread"] == 2

    mark = api.post("/v1/me/notifications/read", json={"up_to_id": older["id"]}, headers=alice.headers)
    assert mark.json() == {"marked": 1, "unread": 1}
    unread = api.get("/v1/me/notifications", params={"unread_only": True}, headers=alice.headers).json()
    assert [n["id"] for n in unread["items"]] == [newest["id"]] and unread["unread"] == 1
    again = api.post("/v1/me/notifications/read", json={"up_to_id": newest["id"]}, headers=alice.headers)
    assert again.json() == {"marked": 1, "unread": 0}
    assert api.post("/v1/me/notifications/read", json={"up_to_id": newest["id"]},
                    headers=alice.headers).json() == {"marked": 0, "unread": 0}
    assert all(n["read"] for n in api.get("/v1/me/notifications", headers=alice.headers).json()["items"])


def test_notifications_need_a_token_and_valid_input(api):
    me = Person(api)
    assert api.get("/v1/me/notifications").status_code == 401
    assert api.post("/v1/me/notifications/read", json={"up_to_id": 1}).status_code == 401
    for body in ({}, {"up_to_id": 0}, {"up_to_id": "x"}, {"up_to_id": 1, "user_id": "0" * 16}):
        resp = api.post("/v1/me/notifications/read", json=body, headers=me.headers)
        assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM, body
    assert api.get("/v1/me/notifications", params={"limit": 0}, headers=me.headers).status_code == 422
