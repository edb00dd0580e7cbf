"""Social notifications through the API over real PostgreSQL and Redis: each kind made by the real action, never
to oneself, once per like or follow however often toggled, nothing across a block, nobody else's to read or
mark, the unread count, and the live stream (Server-Sent Events over LISTEN/NOTIFY): a like made after
connecting arrives within two seconds, and a reconnect with Last-Event-ID resumes without repeating."""

from __future__ import annotations

import json
import time

import pytest

from feed_api import notification_stream
from tests.integration.feed_helpers import Person, ready_video

pytestmark = pytest.mark.usefixtures("live_keys_cleared")


def mine(api, person: Person, **params) -> list[dict]:
    resp = api.get("/v1/me/notifications", headers=person.headers, params={"limit": 100, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def social(items: list[dict]) -> list[tuple[str, str | None]]:
    """(kind, actor handle) of the social notifications, oldest first."""
    return [(n["kind"], n["actor"]["handle"]) for n in reversed(items) if n["actor"]]


def comment(api, person: Person, vid: str, body: str, **extra) -> dict:
    resp = api.post(f"/v1/videos/{vid}/comments", json={"body": body, **extra}, headers=person.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_each_kind_comes_from_its_action_with_actor_video_and_text(api, sessions):
    alice, bob, carol = Person(api), Person(api), Person(api)
    vid = ready_video(sessions, alice.id)
    assert api.post(f"/v1/users/{alice.id}/follow", headers=bob.headers).status_code == 200
    assert api.post(f"/v1/videos/{vid}/like", headers=bob.headers).status_code == 200
    c = comment(api, bob, vid, "what   a\nclip " + "x" * 200)
    reply = comment(api, carol, vid, "agreed", reply_to=c["id"])
    assert reply["parent_id"] == c["id"]

    got = mine(api, alice)
    assert social(got) == [("new_follower", bob.handle), ("video_liked", bob.handle),
                           ("video_commented", bob.handle), ("video_commented", carol.handle)]
    follow, like, commented = got[3], got[2], got[1]
    assert follow["text"] == f"@{bob.handle} started following you" and follow["video_id"] is None
    assert like["text"] == f"@{bob.handle} liked your video" and like["video_id"] == vid
    assert like["actor"] == {"id": bob.id, "handle": bob.handle} and like["read"] is False and like["created_at"]
    assert commented["comment_id"] == c["id"] and commented["text"].startswith(f"@{bob.handle} commented: what a clip")
    assert len(commented["detail"]["text"]) <= 80  # a snippet, not the whole comment
    # The parent's author hears of the reply.
    assert [(n["kind"], n["actor"]["handle"], n["comment_id"]) for n in mine(api, bob)] == \
        [("comment_replied", carol.handle, reply["id"])]
    assert mine(api, bob)[0]["text"] == f"@{carol.handle} replied: agreed"
    # A reply to the creator's own comment tells them once, as a reply.
    own = comment(api, alice, vid, "thanks all")
    comment(api, bob, vid, "you're welcome", parent_id=own["id"])
    assert social(mine(api, alice))[-1] == ("comment_replied", bob.handle)
    assert len(social(mine(api, alice))) == 5
    # A reply must name a comment of the same video.
    other = ready_video(sessions, alice.id)
    resp = api.post(f"/v1/videos/{other}/comments", json={"body": "x", "reply_to": c["id"]}, headers=bob.headers)
    assert resp.status_code == 404 and resp.json()["code"] == "comment_not_found"
    both = api.post(f"/v1/videos/{vid}/comments", json={"body": "x", "reply_to": c["id"], "parent_id": own["id"]},
                    headers=bob.headers)
    assert both.status_code == 422


def test_nobody_is_told_of_their_own_actions_and_toggling_does_not_spam(api, sessions):
    alice, bob = Person(api), Person(api)
    vid = ready_video(sessions, alice.id)
    api.post(f"/v1/videos/{vid}/like", headers=alice.headers)
    own = comment(api, alice, vid, "my own")
    comment(api, alice, vid, "replying to myself", reply_to=own["id"])
    assert social(mine(api, alice)) == []
    for _ in range(3):
        assert api.post(f"/v1/videos/{vid}/like", headers=bob.headers).status_code == 200
        assert api.delete(f"/v1/videos/{vid}/like", headers=bob.headers).status_code == 200
        assert api.post(f"/v1/users/{alice.id}/follow", headers=bob.headers).status_code == 200
        assert api.delete(f"/v1/users/{alice.id}/follow", headers=bob.headers).status_code == 200
    api.post(f"/v1/videos/{vid}/like", headers=bob.headers)
    assert sorted(social(mine(api, alice))) == [("new_follower", bob.handle), ("video_liked", bob.handle)]
    # Another video is another like to hear about.
    second = ready_video(sessions, alice.id)
    api.post(f"/v1/videos/{second}/like", headers=bob.headers)
    assert [n["video_id"] for n in mine(api, alice) if n["kind"] == "video_liked"] == [second, vid]


def test_a_blocked_user_s_actions_do_not_notify_the_blocker(api, sessions):
    alice, bob, carol = Person(api), Person(api), Person(api)
    vid = ready_video(sessions, bob.id)  # bob's video: carol may see it, and alice comments on it
    c = comment(api, alice, vid, "nice")
    assert api.post(f"/v1/users/{carol.id}/block", headers=alice.headers).status_code == 200
    comment(api, carol, vid, "reply from someone alice blocked", reply_to=c["id"])
    assert social(mine(api, alice)) == []
    assert api.post(f"/v1/users/{alice.id}/follow", headers=carol.headers).status_code == 403
    # Blocked the other way round too: alice blocked by dave.
    dave = Person(api)
    d = comment(api, dave, vid, "hello")
    api.post(f"/v1/users/{alice.id}/block", headers=dave.headers)
    comment(api, alice, vid, "hi dave", reply_to=d["id"])
    assert [n["kind"] for n in mine(api, dave) if n["actor"]] == []


def test_nobody_else_can_read_count_or_mark_my_notifications(api, sessions):
    alice, bob, mallory = Person(api), Person(api), Person(api)
    vid = ready_video(sessions, alice.id)
    api.post(f"/v1/videos/{vid}/like", headers=bob.headers)
    comment(api, bob, vid, "hey")
    items = mine(api, alice)
    top = items[0]["id"]
    assert api.get("/v1/me/notifications/unread", headers=alice.headers).json() == {"unread": len(items)}

    assert mine(api, mallory) == []
    assert api.get("/v1/me/notifications/unread", headers=mallory.headers).json() == {"unread": 0}
    marked = api.post("/v1/me/notifications/read", json={"up_to_id": top}, headers=mallory.headers).json()
    assert marked == {"marked": 0, "unread": 0}
    assert api.get("/v1/me/notifications/unread", headers=alice.headers).json() == {"unread": len(items)}
    for path in ("/v1/me/notifications", "/v1/me/notifications/unread"):
        assert api.get(path).status_code == 401
    assert api.post("/v1/me/notifications/read", json={"up_to_id": top}).status_code == 401
    # A stream token opens the stream only, never another route.
    token = api.post("/v1/me/notifications/stream-token", headers=alice.headers).json()["access_token"]
    assert api.get("/v1/me/notifications", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    marked = api.post("/v1/me/notifications/read", json={"up_to_id": top}, headers=alice.headers).json()
    assert marked == {"marked": len(items), "unread": 0}
    assert api.get("/v1/me/notifications/unread", headers=alice.headers).json() == {"unread": 0}
    assert all(n["read"] for n in mine(api, alice))


# ------------------------------------------------------------------------------------------- the stream
def sse(resp, on_event=None) -> list[dict]:
    """Every event until the server ends the stream, each with the time it arrived."""
    out, block = [], {}
    for line in resp.iter_lines():
        if line.startswith(":"):
            out.append({"comment": line[1:].strip(), "at": time.monotonic()})
        elif line:
            name, _, value = line.partition(": ")
            block[name] = json.loads(value) if name == "data" else value
        elif "event" in block:
            block["at"] = time.monotonic()
            out.append(block)
            if on_event:
                on_event(block)
            block = {}
        else:
            block = {}
    return out


def test_the_stream_delivers_a_new_like_within_two_seconds_and_resumes_without_repeats(api, sessions, monkeypatch):
    # Re-reads come at keep-alives (3 s) or every 2 s while not listening: under 1 s is the NOTIFY's doing.
    monkeypatch.setattr(notification_stream, "MAX_STREAM_S", 4.5)
    monkeypatch.setattr(notification_stream, "KEEPALIVE_S", 3.0)
    alice, bob, carol = Person(api), Person(api), Person(api)
    vid = ready_video(sessions, alice.id)
    comment(api, bob, vid, "before")  # one unread before connecting, which a fresh stream does not replay
    liked_at: list[float] = []

    def like_once_connected(event: dict) -> None:
        if event["event"] == "unread" and not liked_at:
            liked_at.append(time.monotonic())
            assert api.post(f"/v1/videos/{vid}/like", headers=bob.headers).status_code == 200

    token = api.post("/v1/me/notifications/stream-token", headers=alice.headers).json()["access_token"]
    with api.stream("GET", "/v1/me/notifications/stream", params={"access_token": token}, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        got = sse(resp, like_once_connected)
    events = [e for e in got if "event" in e]
    assert events[0]["event"] == "unread" and events[0]["data"] == {"unread": 1} and "id" not in events[0]
    notes = [e for e in events if e["event"] == "notification"]
    assert [n["data"]["kind"] for n in notes] == ["video_liked"]
    assert notes[0]["at"] - liked_at[0] < 1.0
    listed = mine(api, alice)[0]
    assert notes[0]["data"] == listed and notes[0]["id"] == str(listed["id"])  # the list's JSON, its id
    assert events[events.index(notes[0]) + 1]["data"] == {"unread": 2}
    assert any("comment" in e for e in got)  # keep-alives while idle

    # Disconnected: carol likes; a reconnect from the last id gets that one only, and nothing twice.
    api.post(f"/v1/videos/{vid}/like", headers=carol.headers)
    with api.stream("GET", "/v1/me/notifications/stream", timeout=30,
                    headers={**alice.headers, "Last-Event-ID": notes[0]["id"]}) as resp:
        again = [e for e in sse(resp) if e.get("event") == "notification"]
    assert [(e["data"]["kind"], e["data"]["actor"]["handle"]) for e in again] == [("video_liked", carol.handle)]


def test_the_stream_refuses_bad_or_missing_tokens_before_any_byte(api):
    alice = Person(api)
    assert api.get("/v1/me/notifications/stream").status_code == 401
    assert api.get("/v1/me/notifications/stream", params={"access_token": "x.y.z"}).status_code == 401
    bad = api.get("/v1/me/notifications/stream", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    assert api.get("/v1/me/notifications/stream", params={"after": -1}, headers=alice.headers).status_code == 422


def test_signing_out_everywhere_closes_the_stream_to_its_tokens_too(api):
    alice = Person(api)
    stream_token = api.post("/v1/me/notifications/stream-token", headers=alice.headers).json()["access_token"]
    api_token = alice.headers["Authorization"].removeprefix("Bearer ")
    assert api.post("/v1/auth/logout-all", headers=alice.headers).status_code == 204
    for params, headers in (({"access_token": stream_token}, {}), ({"access_token": api_token}, {}),
                            ({}, alice.headers)):
        r = api.get("/v1/me/notifications/stream", params=params, headers=headers)
        assert r.status_code == 401 and "signed out" in r.json()["detail"], r.text


def test_a_comment_removed_by_a_moderator_leaves_no_snippet_in_anyone_s_notifications(api, sessions):
    from catalog import moderation
    from catalog.db import session_scope

    alice, bob, mod = Person(api), Person(api), Person(api)
    vid = ready_video(sessions, alice.id)
    c = comment(api, bob, vid, "something abusive")
    assert [n["kind"] for n in mine(api, alice)] == ["video_commented"]
    with session_scope(sessions) as s:
        moderation.act_on_comment(s, moderator_id=mod.id, comment_id=c["id"], action=moderation.Action.REMOVE,
                                  reason="harassment")
    assert mine(api, alice) == []
    assert api.get("/v1/me/notifications/unread", headers=alice.headers).json() == {"unread": 0}
    assert [n["kind"] for n in mine(api, bob)] == ["comment_removed"]
