"""Moderation over real PostgreSQL and Redis: reports, roles, the review queue, takedown with the CDN purge, the
creator's notification and appeal, restrict, review holds, the audit log, and limited exposure of new uploads.

Every route that hides or removes something is tried where it must not be readable."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters.catalog_check import CatalogCheck
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import PendingPurge, Video
from cdn_sim.access import Access
from jobs.purge import process_pending
from reelflow import cli
from tests.integration.feed_helpers import Person, all_pages, make_client, ready_video, word

pytestmark = pytest.mark.usefixtures("live_keys_cleared")


def moderator(api, role: str = "moderator") -> Person:
    """A user made moderator the ops way: ``reelflow user role HANDLE moderator``."""
    person = Person(api)
    assert cli.main(["user", "role", person.handle, role]) == 0
    return person


def feed_ids(api, person: Person, params: dict) -> set[str]:
    items, _ = all_pages(api, person.headers, {"limit": 20, **params})
    return {i["id"] for i in items}


def report(api, person: Person, vid: str, reason: str = "spam", **body) -> dict:
    resp = api.post(f"/v1/videos/{vid}/report", json={"reason": reason, **body}, headers=person.headers)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def act(api, mod: Person, vid: str, action: str, reason: str = "breaks the rules") -> dict:
    resp = api.post(f"/v1/moderation/videos/{vid}/actions", json={"action": action, "reason": reason},
                    headers=mod.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def notifications(api, person: Person) -> list[dict]:
    resp = api.get("/v1/me/notifications", headers=person.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def queue(api, mod: Person) -> list[dict]:
    items, cursor = [], None
    while True:
        resp = api.get("/v1/moderation/queue", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                       headers=mod.headers)
        assert resp.status_code == 200, resp.text
        items += resp.json()["items"]
        cursor = resp.json()["next_cursor"]
        if not cursor:
            return items


# ------------------------------------------------------------------------------------------- reports
def test_reporting_a_video_validates_is_idempotent_and_never_reveals_a_hidden_video(api, sessions):
    creator, reporter = Person(api), Person(api)
    vid = ready_video(sessions, creator.id)
    first = api.post(f"/v1/videos/{vid}/report", json={"reason": "spam", "note": "link farm"},
                     headers=reporter.headers)
    assert first.status_code == 201 and first.json()["duplicate"] is False and first.json()["status"] == "open"
    again = api.post(f"/v1/videos/{vid}/report", json={"reason": "hate"}, headers=reporter.headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"] and again.json()["reason"] == "spam"
    with session_scope(sessions) as s:
        assert s.get(Video, vid).report_count == 1  # a second report by the same user counts once

    bad = api.post(f"/v1/videos/{vid}/report", json={"reason": "boring"}, headers=reporter.headers)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert api.post(f"/v1/videos/{vid}/report", json={"reason": "spam", "note": "x" * 501},
                    headers=reporter.headers).status_code == 422
    assert api.post(f"/v1/videos/{vid}/report", json={"reason": "spam"}, headers=creator.headers).status_code == 422
    assert api.post(f"/v1/videos/{vid}/report", json={"reason": "spam"}).status_code == 401

    # Private, followers-only (not following) and unknown videos all answer the same 404.
    for privacy in ("private", "followers"):
        hidden = ready_video(sessions, creator.id, privacy=privacy)
        resp = api.post(f"/v1/videos/{hidden}/report", json={"reason": "spam"}, headers=reporter.headers)
        assert resp.status_code == 404 and resp.json()["code"] == "video_not_found"
    assert api.post(f"/v1/videos/{'0' * 16}/report", json={"reason": "spam"},
                    headers=reporter.headers).status_code == 404


def test_reports_are_rate_limited(settings, store, catalog_url, sessions):
    with make_client(settings, report_limit_per_min=0.5, report_limit_burst=2) as api:
        creator, reporter = Person(api), Person(api)
        vids = [ready_video(sessions, creator.id) for _ in range(3)]
        codes = [api.post(f"/v1/videos/{v}/report", json={"reason": "spam"}, headers=reporter.headers).status_code
                 for v in vids]
        assert codes[:2] == [201, 201] and codes[2] == 429


def test_comment_and_user_reports_reach_the_queue_and_removing_a_comment_hides_it(api, sessions):
    creator, author, reporter, mod = Person(api), Person(api), Person(api), moderator(api)
    vid = ready_video(sessions, creator.id)
    cid = api.post(f"/v1/videos/{vid}/comments", json={"body": "buy followers here"},
                   headers=author.headers).json()["id"]
    resp = api.post(f"/v1/comments/{cid}/report", json={"reason": "spam"}, headers=reporter.headers)
    assert resp.status_code == 201 and resp.json()["target_kind"] == "comment"
    assert api.post(f"/v1/users/{author.id}/report", json={"reason": "harassment"},
                    headers=reporter.headers).status_code == 201
    assert api.post(f"/v1/users/{reporter.id}/report", json={"reason": "spam"},
                    headers=reporter.headers).status_code == 422
    for unknown in (f"/v1/users/{'0' * 16}/report", f"/v1/comments/{2**61}/report"):
        assert api.post(unknown, json={"reason": "spam"}, headers=reporter.headers).status_code == 404
    # A comment on a video the reporter may not see is not there for them.
    private = ready_video(sessions, creator.id, privacy="private")
    hidden_cid = api.post(f"/v1/videos/{private}/comments", json={"body": "mine"}, headers=creator.headers).json()["id"]
    resp = api.post(f"/v1/comments/{hidden_cid}/report", json={"reason": "spam"}, headers=reporter.headers)
    assert resp.status_code == 404 and resp.json()["code"] == "comment_not_found"

    items = {(i["target_kind"], i["target_id"]): i for i in queue(api, mod)}
    assert items[("comment", str(cid))]["reasons"] == {"spam": 1}
    assert items[("user", author.id)]["reports"] == 1

    resp = api.post(f"/v1/moderation/comments/{cid}/actions", json={"action": "remove", "reason": "spam"},
                    headers=mod.headers)
    assert resp.status_code == 200 and resp.json()["action"] == "remove"
    listed = api.get(f"/v1/videos/{vid}/comments", headers=reporter.headers).json()["items"]
    assert cid not in [c["id"] for c in listed]
    assert api.post(f"/v1/comments/{cid}/report", json={"reason": "spam"}, headers=reporter.headers).status_code == 404
    assert api.post(f"/v1/videos/{vid}/comments", json={"body": "reply", "parent_id": cid},
                    headers=reporter.headers).status_code == 404
    assert any(n["kind"] == "comment_removed" and n["detail"]["reason"] == "spam" for n in notifications(api, author))
    again = api.post(f"/v1/moderation/comments/{cid}/actions", json={"action": "remove", "reason": "spam"},
                     headers=mod.headers)
    assert again.status_code == 409
    assert api.post(f"/v1/moderation/comments/{cid}/actions", json={"action": "restrict", "reason": "x"},
                    headers=mod.headers).status_code == 422

    resp = api.post(f"/v1/moderation/users/{author.id}/actions", json={"action": "approve", "reason": "one comment"},
                    headers=mod.headers)
    assert resp.status_code == 200
    left = {(i["target_kind"], i["target_id"]) for i in queue(api, mod)}
    assert ("comment", str(cid)) not in left and ("user", author.id) not in left


# ------------------------------------------------------------------------------------------- roles
def test_every_moderator_route_refuses_everyone_else(api, sessions):
    creator, user = Person(api), Person(api)
    vid = ready_video(sessions, creator.id)
    routes = [("get", "/v1/moderation/queue", None), ("get", "/v1/moderation/audit", None),
              ("get", "/v1/moderation/appeals", None),
              ("post", f"/v1/moderation/videos/{vid}/actions", {"action": "remove", "reason": "x"}),
              ("post", "/v1/moderation/comments/1/actions", {"action": "remove", "reason": "x"}),
              ("post", f"/v1/moderation/users/{creator.id}/actions", {"action": "approve", "reason": "x"}),
              ("post", "/v1/moderation/appeals/1", {"decision": "uphold", "reason": "x"})]
    app_routes = {r.path for r in api.app.routes if getattr(r, "path", "").startswith("/v1/moderation")}
    assert len(app_routes) == len({p.replace(vid, "{video_id}").replace(creator.id, "{user_id}") for _, p, _ in routes})
    for method, path, body in routes:
        kwargs = {"json": body} if body else {}
        forbidden = getattr(api, method)(path, headers=user.headers, **kwargs)
        assert forbidden.status_code == 403, (path, forbidden.text)
        assert forbidden.headers["content-type"] == "application/problem+json"
        assert forbidden.json()["code"] == "forbidden"
        assert getattr(api, method)(path, **kwargs).status_code == 401
    with session_scope(sessions) as s:
        assert s.get(Video, vid).state == "ready"
    # An admin is a moderator too; a demoted moderator is refused at once (the role is read per request).
    admin = moderator(api, "admin")
    assert api.get("/v1/moderation/queue", headers=admin.headers).status_code == 200
    assert cli.main(["user", "role", admin.handle, "user"]) == 0
    assert api.get("/v1/moderation/queue", headers=admin.headers).status_code == 403
    assert cli.main(["user", "role", f"nobody_{word()}", "moderator"]) == 1


def test_a_moderator_cannot_decide_on_their_own_content(api, sessions):
    mod, other = moderator(api), moderator(api)
    vid = ready_video(sessions, mod.id)
    cid = api.post(f"/v1/videos/{vid}/comments", json={"body": "mine"}, headers=mod.headers).json()["id"]
    for path, body in ((f"/v1/moderation/videos/{vid}/actions", {"action": "approve", "reason": "fine"}),
                       (f"/v1/moderation/comments/{cid}/actions", {"action": "approve", "reason": "fine"}),
                       (f"/v1/moderation/users/{mod.id}/actions", {"action": "approve", "reason": "fine"})):
        resp = api.post(path, json=body, headers=mod.headers)
        assert resp.status_code == 403 and resp.json()["code"] == "forbidden", path
    act(api, other, vid, "remove", "spam")
    appeal_id = api.post(f"/v1/videos/{vid}/appeal", json={"statement": "no"}, headers=mod.headers).json()["id"]
    resp = api.post(f"/v1/moderation/appeals/{appeal_id}", json={"decision": "uphold", "reason": "mine is fine"},
                    headers=mod.headers)
    assert resp.status_code == 403
    with session_scope(sessions) as s:
        assert s.get(Video, vid).state == "removed"


# ------------------------------------------------------------------------------------------- the whole flow
def test_report_review_takedown_notify_appeal_restore(api, sessions, store, settings):
    tag, sound = f"t{word()}", f"s{word()}"
    creator, follower, mod = Person(api), Person(api), moderator(api)
    viewer = Person(api, interests=(tag,))
    vid = ready_video(sessions, creator.id, tags=(tag,), sound=sound)
    key = f"v/{vid}/pub1/master.m3u8"
    store.put_bytes(settings.vod_bucket, key, b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl")
    assert api.post(f"/v1/users/{creator.id}/follow", headers=follower.headers).status_code == 200
    everywhere = {"for_you": (viewer, {"type": "for_you"}), "hashtag": (viewer, {"type": "hashtag", "tag": tag}),
                  "sound": (viewer, {"type": "sound", "sound_id": sound}),
                  "following": (follower, {"type": "following"})}
    for name, (who, params) in everywhere.items():
        assert vid in feed_ids(api, who, params), name

    assert report(api, viewer, vid, "violence", note="at 0:03")["duplicate"] is False
    item = next(i for i in queue(api, mod) if i["target_id"] == vid)
    assert item["target_kind"] == "video" and item["reports"] == 1 and item["reasons"] == {"violence": 1}
    assert item["video"]["state"] == "ready" and item["video"]["creator_id"] == creator.id

    removal = act(api, mod, vid, "remove", "graphic violence")
    assert removal["action"] == "remove" and removal["previous_state"] == "ready"
    assert removal["moderator_id"] == mod.id
    # Every edge tier's purge was requested through the outbox (and acknowledged), the origin kept for an appeal.
    assert api.purger.calls == [vid]
    with session_scope(sessions) as s:
        assert s.get(PendingPurge, vid) is None and s.get(Video, vid).state == "removed"
    assert store.list_keys(settings.vod_bucket, f"v/{vid}/") == [key]
    edge_check = CatalogCheck(settings.database_url)  # what the edge asks before any tier answers
    assert edge_check.access(vid) is Access.GONE

    # Gone for everyone else: every feed (new sessions), the profile, the page, likes, comments, reports.
    fresh = Person(api, interests=(tag,))
    for name, (who, params) in {**everywhere, "for_you_fresh": (fresh, {"type": "for_you"}),
                                "trending": (viewer, {"type": "trending"})}.items():
        assert vid not in feed_ids(api, who, params), name
    for who in (viewer, follower):
        grid = api.get(f"/v1/users/{creator.id}/videos", headers=who.headers).json()["items"]
        assert vid not in [i["id"] for i in grid]
        assert api.get(f"/v1/videos/{vid}", headers=who.headers).status_code == 404
        assert api.post(f"/v1/videos/{vid}/like", headers=who.headers).status_code == 404
        assert api.get(f"/v1/videos/{vid}/comments", headers=who.headers).status_code == 404
        assert api.post(f"/v1/videos/{vid}/report", json={"reason": "spam"}, headers=who.headers).status_code == 404
        assert api.post(f"/v1/videos/{vid}/appeal", json={"statement": "mine!"}, headers=who.headers).status_code == 404
    assert api.get(f"/v1/videos/{vid}").status_code == 404
    assert vid not in [i["target_id"] for i in queue(api, mod)]  # its reports are resolved

    # The creator sees it, removed, with the reason, and was told.
    own = api.get(f"/v1/videos/{vid}", headers=creator.headers).json()
    assert own["state"] == "removed" and own["playback_url"] is None
    assert own["moderation"] == {"status": "removed", "reason": "graphic violence"}
    grid = {i["id"]: i for i in api.get(f"/v1/users/{creator.id}/videos", headers=creator.headers).json()["items"]}
    assert grid[vid]["state"] == "removed" and grid[vid]["moderation"]["reason"] == "graphic violence"
    assert grid[vid]["playback_url"] == ""
    told = [n for n in notifications(api, creator) if n["kind"] == "video_removed"]
    assert told and told[0]["video_id"] == vid and told[0]["detail"]["reason"] == "graphic violence"
    assert act_status(api, mod, vid, "approve") == 409  # only restore or an appeal applies now

    # The appeal: once per removal; upheld, the video is exactly what it was and back everywhere.
    appeal = api.post(f"/v1/videos/{vid}/appeal", json={"statement": "it is a film scene"}, headers=creator.headers)
    assert appeal.status_code == 201 and appeal.json()["status"] == "open"
    assert api.post(f"/v1/videos/{vid}/appeal", json={"statement": "again"}, headers=creator.headers).status_code == 409
    open_ids = [a["id"] for a in api.get("/v1/moderation/appeals", headers=mod.headers).json()["items"]]
    assert appeal.json()["id"] in open_ids
    decided = api.post(f"/v1/moderation/appeals/{appeal.json()['id']}",
                       json={"decision": "uphold", "reason": "fiction, labelled"}, headers=mod.headers)
    assert decided.status_code == 200, decided.text
    assert decided.json()["appeal"]["status"] == "upheld" and decided.json()["action"]["action"] == "appeal_upheld"
    assert api.post(f"/v1/moderation/appeals/{appeal.json()['id']}", json={"decision": "deny", "reason": "x"},
                    headers=mod.headers).status_code == 409
    with session_scope(sessions) as s:
        assert s.get(Video, vid).state == "ready"
    assert edge_check.access(vid) is Access.PUBLIC
    edge_check.close()
    assert any(n["kind"] == "video_restored" and n["detail"]["reason"] == "fiction, labelled"
               for n in notifications(api, creator))
    assert api.get(f"/v1/videos/{vid}", headers=viewer.headers).status_code == 200
    assert api.get(f"/v1/videos/{vid}", headers=creator.headers).json()["moderation"] is None
    back = Person(api, interests=(tag,))
    assert vid in feed_ids(api, back, {"type": "for_you"})
    for name, (who, params) in everywhere.items():
        if name != "for_you":  # the first viewer's pool was rebuilt while it was removed; a fresh one has it
            assert vid in feed_ids(api, who, params), name

    # The audit log has every step, newest first, and the removal kept the state it replaced.
    log = api.get("/v1/moderation/audit", params={"target_kind": "video", "target_id": vid},
                  headers=mod.headers).json()["items"]
    assert [a["action"] for a in log] == ["appeal_upheld", "remove"]
    assert log[1]["reason"] == "graphic violence" and log[1]["previous_state"] == "ready"
    assert log[0]["previous_state"] == "removed"


def act_status(api, mod: Person, vid: str, action: str) -> int:
    return api.post(f"/v1/moderation/videos/{vid}/actions", json={"action": action, "reason": "r"},
                    headers=mod.headers).status_code


def test_a_denied_appeal_keeps_the_video_down_and_tells_the_creator(api, sessions):
    creator, other, mod = Person(api), Person(api), moderator(api)
    vid = ready_video(sessions, creator.id)
    assert api.post(f"/v1/videos/{vid}/appeal", json={"statement": "why?"}, headers=creator.headers).status_code == 409
    act(api, mod, vid, "remove", "copyright: the whole film")
    assert api.post(f"/v1/videos/{vid}/appeal", json={"statement": "x"}, headers=other.headers).status_code == 404
    appeal_id = api.post(f"/v1/videos/{vid}/appeal", json={"statement": "I own it"},
                         headers=creator.headers).json()["id"]
    resp = api.post(f"/v1/moderation/appeals/{appeal_id}", json={"decision": "deny", "reason": "no licence shown"},
                    headers=mod.headers)
    assert resp.status_code == 200 and resp.json()["appeal"]["status"] == "denied"
    assert api.get(f"/v1/videos/{vid}", headers=other.headers).status_code == 404
    assert any(n["kind"] == "appeal_denied" and n["detail"]["reason"] == "no licence shown"
               for n in notifications(api, creator))
    assert api.post(f"/v1/videos/{vid}/appeal", json={"statement": "again"}, headers=creator.headers).status_code == 409
    # A moderator may still reverse it; the state comes back from the removal's audit row.
    assert act(api, mod, vid, "restore", "licence arrived")["previous_state"] == "removed"
    assert api.get(f"/v1/videos/{vid}", headers=other.headers).status_code == 200
    assert act_status(api, mod, vid, "restore") == 409
    assert act_status(api, mod, "0" * 16, "remove") == 404


def test_a_video_deleted_by_its_creator_leaves_the_queue(api, sessions):
    creator, mod = Person(api), moderator(api)
    vid = ready_video(sessions, creator.id)
    report(api, Person(api), vid)
    assert vid in [i["target_id"] for i in queue(api, mod)]
    assert api.delete(f"/v1/videos/{vid}", headers=creator.headers).status_code == 204
    assert vid not in [i["target_id"] for i in queue(api, mod)]
    assert act_status(api, mod, vid, "remove") == 404


def test_restrict_keeps_a_video_out_of_discovery_but_the_link_profile_and_following_work(api, sessions):
    tag = f"t{word()}"
    creator, follower, mod = Person(api), Person(api), moderator(api)
    vid = ready_video(sessions, creator.id, tags=(tag,))
    assert api.post(f"/v1/users/{creator.id}/follow", headers=follower.headers).status_code == 200
    viewer = Person(api, interests=(tag,))
    assert vid in feed_ids(api, viewer, {"type": "for_you"})  # cached in the viewer's pool from now on

    assert act(api, mod, vid, "restrict", "borderline")["previous_moderation"] == "clear"
    for params in ({"type": "for_you"}, {"type": "trending"}, {"type": "hashtag", "tag": tag}):
        assert vid not in feed_ids(api, viewer, params), params
    assert vid not in feed_ids(api, Person(api, interests=(tag,)), {"type": "for_you"})
    assert api.get(f"/v1/videos/{vid}", headers=viewer.headers).status_code == 200
    assert api.get(f"/v1/videos/{vid}", headers=viewer.headers).json()["moderation"] is None  # the creator's only
    assert vid in [i["id"] for i in api.get(f"/v1/users/{creator.id}/videos", headers=viewer.headers).json()["items"]]
    assert vid in feed_ids(api, follower, {"type": "following"})
    assert api.get(f"/v1/videos/{vid}", headers=creator.headers).json()["moderation"] == {
        "status": "restricted", "reason": "borderline"}

    act(api, mod, vid, "approve", "fine after all")
    assert vid in feed_ids(api, viewer, {"type": "for_you"})
    assert vid in feed_ids(api, viewer, {"type": "hashtag", "tag": tag})


def test_reports_past_the_threshold_hold_a_video_for_review_until_approved(settings, store, catalog_url, sessions):
    with make_client(settings, moderation_review_reports=2) as api:
        tag = f"t{word()}"
        creator, mod = Person(api), moderator(api)
        viewer = Person(api, interests=(tag,))
        vid = ready_video(sessions, creator.id, tags=(tag,))
        report(api, Person(api), vid)
        assert vid in feed_ids(api, viewer, {"type": "for_you"})  # one report holds nothing
        report(api, Person(api), vid, "hate")
        with session_scope(sessions) as s:
            assert s.get(Video, vid).moderation == "review"
        for params in ({"type": "for_you"}, {"type": "hashtag", "tag": tag}):
            assert vid not in feed_ids(api, viewer, params)
        assert api.get(f"/v1/videos/{vid}", headers=viewer.headers).status_code == 200
        item = next(i for i in queue(api, mod) if i["target_id"] == vid)
        assert item["reports"] == 2 and item["reasons"] == {"spam": 1, "hate": 1}
        assert item["video"]["moderation"] == "review"
        act(api, mod, vid, "approve", "satire")
        with session_scope(sessions) as s:
            assert (s.get(Video, vid).moderation, s.get(Video, vid).report_count) == ("clear", 0)
        assert vid in feed_ids(api, viewer, {"type": "for_you"})
        assert vid not in [i["target_id"] for i in queue(api, mod)]


# ------------------------------------------------------------------------------------------- guards
def test_no_pipeline_step_brings_a_removed_video_back(api, sessions):
    creator, mod = Person(api), moderator(api)
    vid = ready_video(sessions, creator.id)
    act(api, mod, vid, "remove", "spam")
    steps = [lambda s: repo.start_processing(s, vid, run_id="rerun"),
             lambda s: repo.mark_playable(s, vid, publish_prefix="v/x/p", master_key="v/x/p/playable.m3u8",
                                          renditions=[]),
             lambda s: repo.mark_ready(s, vid, publish_prefix="v/x/p", master_key="v/x/p/master.m3u8", renditions=[]),
             lambda s: repo.mark_failed(s, vid, code="processing_error", reason="x")]
    for step in steps:
        with pytest.raises(repo.InvalidTransition), session_scope(sessions) as s:
            step(s)
    with session_scope(sessions) as s:
        video = s.get(Video, vid)
        assert video.state == "removed" and video.master_key == f"v/{vid}/pub1/master.m3u8"
    assert api.get(f"/v1/videos/{vid}", headers=Person(api).headers).status_code == 404


def test_a_delete_after_a_takedown_still_removes_the_origin(api, sessions, store, settings):
    creator, mod = Person(api), moderator(api)
    vid = ready_video(sessions, creator.id)
    store.put_bytes(settings.vod_bucket, f"v/{vid}/pub1/master.m3u8", b"#EXTM3U\n", content_type="text/plain")
    api.purger.down = True
    act(api, mod, vid, "remove", "spam")
    with session_scope(sessions) as s:
        row = s.get(PendingPurge, vid)
        assert row is not None and row.keep_origin and row.attempts == 1  # the purge is owed, never lost
    assert api.delete(f"/v1/videos/{vid}", headers=creator.headers).status_code == 204
    with session_scope(sessions) as s:
        assert s.get(PendingPurge, vid).keep_origin is False
    api.purger.down = False
    svc = api.app.state.services
    assert process_pending(svc.sessions, svc.origin, svc.purger, video_id=vid) == (1, 0)
    assert store.list_keys(settings.vod_bucket, f"v/{vid}/") == []
    assert api.purger.calls.count(vid) >= 2


def test_the_audit_log_is_append_only(api, sessions):
    creator, mod = Person(api), moderator(api)
    vid = ready_video(sessions, creator.id)
    act(api, mod, vid, "restrict", "borderline")
    for sql in ("UPDATE moderation_actions SET reason = 'nothing happened'", "DELETE FROM moderation_actions"):
        with pytest.raises(DBAPIError, match="append-only"), session_scope(sessions) as s:
            s.execute(text(sql))
    page = api.get("/v1/moderation/audit", params={"limit": 1}, headers=mod.headers).json()
    assert page["items"][0]["target_id"] == vid and page["next_before"] == page["items"][0]["id"]


# ------------------------------------------------------------------------------------------- limited exposure
def test_a_new_upload_reaches_only_its_sample_until_it_has_views_without_reports(settings, store, catalog_url,
                                                                                 sessions):
    with make_client(settings, exposure_min_views=50, exposure_max_reports=0, exposure_sample_share=0.0) as api:
        tag = f"t{word()}"
        creator = Person(api, interests=(tag,))
        vid = ready_video(sessions, creator.id, tags=(tag,))
        assert vid not in feed_ids(api, Person(api, interests=(tag,)), {"type": "for_you"})
        assert vid in feed_ids(api, creator, {"type": "for_you"})  # its creator always sees it
        assert vid in feed_ids(api, Person(api), {"type": "hashtag", "tag": tag})  # only For You is limited

        with session_scope(sessions) as s:
            s.get(Video, vid).view_count = 50
        api.app.state.services.live.sync.delete(api.app.state.services.live.keys.card(vid))
        assert vid in feed_ids(api, Person(api, interests=(tag,)), {"type": "for_you"})

        report(api, Person(api), vid)  # over exposure_max_reports (0): back to its sample
        assert vid not in feed_ids(api, Person(api, interests=(tag,)), {"type": "for_you"})
        act(api, moderator(api), vid, "approve", "the report was unfounded")  # judged fine: the count resets
        assert vid in feed_ids(api, Person(api, interests=(tag,)), {"type": "for_you"})

    with make_client(settings, exposure_min_views=50, exposure_sample_share=1.0) as api:
        creator = Person(api)
        vid = ready_video(sessions, creator.id, tags=(tag,))
        assert vid in feed_ids(api, Person(api, interests=(tag,)), {"type": "for_you"})


def test_the_recommendation_pools_take_only_videos_clear_with_moderation(api, sessions):
    from datetime import timedelta

    from catalog.models import utcnow
    from jobs.candidates import RefreshConfig, load_snapshot

    creator, mod = Person(api), moderator(api)
    clear, restricted, removed = (ready_video(sessions, creator.id) for _ in range(3))
    act(api, mod, restricted, "restrict", "borderline")
    act(api, mod, removed, "remove", "spam")
    with session_scope(sessions) as s:
        snapshot = load_snapshot(s, RefreshConfig(as_of=utcnow() + timedelta(seconds=1), embedding_model="none"))
    assert clear in snapshot.meta
    assert restricted not in snapshot.meta and removed not in snapshot.meta


def test_a_removal_may_prohibit_re_uploads_and_a_reversal_takes_that_back(api, sessions):
    import numpy as np

    from catalog import fingerprints, prohibited_media
    from media.fingerprint import Fingerprint

    creator, mod = Person(api), moderator(api)
    vid, unvalidated = ready_video(sessions, creator.id), ready_video(sessions, creator.id)
    hashes = np.random.default_rng(5).integers(0, 2**63, (4, 3, 1, 4), dtype=np.int64).astype(np.uint64)
    with session_scope(sessions) as s:
        fingerprints.save_fingerprint(s, vid, Fingerprint("ab" * 32, np.arange(4, dtype=np.float32), hashes,
                                                          np.zeros_like(hashes), still=False))
    body = {"action": "remove", "reason": "violent extremism", "prohibit": True}
    resp = api.post(f"/v1/moderation/videos/{unvalidated}/actions", json=body, headers=mod.headers)
    assert resp.status_code == 409 and "fingerprint" in resp.json()["detail"]
    with session_scope(sessions) as s:
        assert s.get(Video, unvalidated).state == "ready"  # refused as a whole: nothing half done
    assert act_status(api, mod, vid, "restrict") == 200
    resp = api.post(f"/v1/moderation/videos/{vid}/actions", json={**body, "action": "approve"}, headers=mod.headers)
    assert resp.status_code == 409  # only a removal prohibits

    assert api.post(f"/v1/moderation/videos/{vid}/actions", json=body, headers=mod.headers).status_code == 200
    with session_scope(sessions) as s:
        assert [e.source_video_id for e in prohibited_media.entries(s) if e.source_video_id == vid] == [vid]
    act(api, mod, vid, "restore", "news footage, allowed")
    with session_scope(sessions) as s:
        assert not [e for e in prohibited_media.entries(s) if e.source_video_id == vid]
    log = api.get("/v1/moderation/audit", params={"target_id": vid}, headers=mod.headers).json()["items"]
    assert [a["action"] for a in log] == ["unprohibit", "restore", "prohibit", "remove", "restrict"]
    assert log[2]["reason"].startswith("prohibited-media entry ")


# ----------------------------------------------------------------------------------- the content screen
def test_the_content_screen_holds_a_flagged_upload_for_review_and_queues_it(api, settings, sessions, store,
                                                                             tmp_path):
    """The ingest classifier hook: the embedding's ImageNet classes, under a policy, hold a video for review
    (out of For You, in the queue with an automated report, logged under the check's name); a moderator's
    approval releases it. The photo matplotlib ships (Grace Hopper in uniform) stands in for a watched class
    (ImageNet 652, military uniform); the default weapons policy lets the same clip through."""
    import subprocess
    from pathlib import Path

    import matplotlib

    from jobs import ingest
    from jobs.ingest import IngestRun

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    clip = tmp_path / "uniform.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", str(photo), "-t", "4", "-r", "10",
                    "-vf", "scale=256:-2,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(clip)],
                   check=True)
    creator, viewer, mod = Person(api), Person(api), moderator(api)

    def upload_and_embed(policy_settings) -> tuple[str, ingest.Embedding]:
        with session_scope(sessions) as s:
            video = repo.create_video(s, creator_id=creator.id)
            repo.start_processing(s, video.id, run_id=f"screen-{video.id}")
            vid, key = video.id, video.raw_key
        store.client.fput_object(settings.raw_bucket, key, str(clip))
        run = IngestRun(policy_settings, vid, f"screen-{vid}")
        ingest.validate(run)
        with session_scope(sessions) as s:
            repo.mark_ready(s, vid, publish_prefix=f"v/{vid}/p", master_key=f"v/{vid}/p/master.m3u8", renditions=[])
        embedding = ingest.embed(run)
        ingest.cleanup(run)
        return vid, embedding

    passed, embedding = upload_and_embed(settings)  # the default policy: weapons
    assert embedding.screen_flags == ()
    watched = settings.model_copy(update={"screen_classes": {652: "military uniform"},
                                          "screen_min_probability": 0.3})
    held, embedding = upload_and_embed(watched)
    assert embedding.screen_flags and embedding.screen_flags[0].startswith("military uniform in ")

    with session_scope(sessions) as s:
        assert s.get(Video, held).moderation == "review" and s.get(Video, passed).moderation == "clear"
    for_you = feed_ids(api, viewer, {"type": "for_you"})
    assert passed in for_you and held not in for_you
    assert api.get(f"/v1/videos/{held}", headers=viewer.headers).status_code == 200  # the link still works
    item = next(i for i in queue(api, mod) if i["target_id"] == held)
    assert item["reports"] == 1 and item["reasons"] == {"dangerous": 1}
    audit = api.get("/v1/moderation/audit", headers=mod.headers).json()["items"]
    hold = next(a for a in audit if a["target_id"] == held)
    assert hold["action"] == "hold" and hold["moderator_id"] == "classifier" and "military uniform" in hold["reason"]
    # A re-run screens again but files no second report.
    with session_scope(sessions) as s:
        from catalog import moderation

        assert not moderation.hold_for_review(s, held, check="classifier", reason="dangerous", note="again")

    act(api, mod, held, "approve", "a uniform, not a weapon")
    assert held in feed_ids(api, Person(api), {"type": "for_you"})
    assert all(i["target_id"] != held for i in queue(api, mod))
