"""Sounds through the API over real PostgreSQL and Redis: the sound page and its videos (newest or most viewed,
cursor paging), sounds on cards, uploads naming a sound, and what a sound must never show to others: the page,
the clip URL or the videos of a sound whose video is private, followers-only, deleted, removed, or whose
creator blocked the viewer. (The ingest side, which makes the clip, is in test_ingest_steps.py.)"""

from __future__ import annotations

import pytest

from catalog import sounds
from catalog.db import session_scope
from catalog.models import Sound, Video
from tests.integration.feed_helpers import Person, ready_video, word

pytestmark = pytest.mark.usefixtures("live_keys_cleared")


def original(sessions, creator: Person, *, privacy: str = "public", **kw) -> tuple[str, str]:
    """A ready video of ``creator`` and its original sound, as ingest leaves them: (video id, sound id)."""
    vid = ready_video(sessions, creator.id, privacy=privacy, **kw)
    with session_scope(sessions) as s:
        sound = sounds.save_original(s, vid, audio_key=f"v/{vid}/pub1/sound/clip.m4a", duration_s=12.5)
        return vid, sound.id


def set_video(sessions, vid: str, **values) -> None:
    with session_scope(sessions) as s:
        video = s.get(Video, vid)
        for k, v in values.items():
            setattr(video, k, v)


def upload(api, person: Person, sound_id: str):
    return api.post("/v1/videos", json={"caption": "x", "sound_id": sound_id, "size_bytes": 1000},
                    headers=person.headers)


def test_the_sound_page_shows_its_audio_creator_count_and_videos_newest_or_most_viewed_first(api, sessions):
    alice, bob, viewer = Person(api), Person(api), Person(api)
    vid, sid = original(sessions, alice, hours_ago=5)
    users = [ready_video(sessions, bob.id, sound=sid, hours_ago=h) for h in (4, 3, 2, 1)]
    ready_video(sessions, bob.id, sound=sid, privacy="private")  # never counted nor listed
    for views, v in zip((50, 10, 40, 30, 20), [vid, *users], strict=True):
        set_video(sessions, v, view_count=views)

    page = api.get(f"/v1/sounds/{sid}", params={"limit": 2}, headers=viewer.headers)
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["title"], body["kind"], body["creator"]) == (f"original sound - @{alice.handle}", "original",
                                                              {"id": alice.id, "handle": alice.handle})
    assert body["original_video_id"] == vid and body["duration_s"] == 12.5 and body["reusable"] is True
    assert body["audio_url"] == api.app.state.services.playback_url(f"v/{vid}/pub1/sound/clip.m4a")
    assert body["videos"] == 5
    newest = [users[3], users[2], users[1], users[0], vid]
    assert [i["id"] for i in body["items"]] == newest[:2]
    assert all(i["sound"] == {"id": sid, "title": body["title"]} for i in body["items"])

    seen, cursor = [i["id"] for i in body["items"]], body["next_cursor"]
    while cursor:
        nxt = api.get(f"/v1/sounds/{sid}/videos", params={"cursor": cursor, "limit": 2}, headers=viewer.headers)
        assert nxt.status_code == 200, nxt.text
        seen += [i["id"] for i in nxt.json()["items"]]
        cursor = nxt.json()["next_cursor"]
    assert seen == newest

    popular = api.get(f"/v1/sounds/{sid}/videos", params={"sort": "popular", "limit": 3}).json()  # anonymous too
    assert [i["id"] for i in popular["items"]] == [vid, users[1], users[2]]
    rest = api.get(f"/v1/sounds/{sid}/videos", params={"sort": "popular", "cursor": popular["next_cursor"]}).json()
    assert [i["id"] for i in rest["items"]] == [users[3], users[0]]
    # A cursor is for its own list and caller.
    assert api.get(f"/v1/sounds/{sid}/videos", params={"cursor": popular["next_cursor"]}).status_code == 400
    assert api.get(f"/v1/sounds/{sid}/videos", params={"sort": "popular", "cursor": popular["next_cursor"]},
                   headers=viewer.headers).status_code == 400
    assert api.get(f"/v1/sounds/{sid}/videos", params={"cursor": "forged.x"}).status_code == 400

    # The sound feed keeps working, its cards carrying the sound too.
    feed = api.get("/v1/feed", params={"type": "sound", "sound_id": sid}, headers=viewer.headers).json()
    assert [i["id"] for i in feed["items"]] == newest
    assert feed["items"][0]["sound"]["title"] == f"original sound - @{alice.handle}"


def test_library_sounds_from_free_strings_have_a_page_without_audio(api, sessions):
    creator = Person(api)
    sid = f"lib_{word()}"
    vid = ready_video(sessions, creator.id, sound=sid)
    body = api.get(f"/v1/sounds/{sid}").json()
    assert (body["kind"], body["title"], body["audio_url"], body["creator"], body["videos"]) == \
        ("library", sid, None, None, 1)
    assert [i["id"] for i in body["items"]] == [vid]
    missing = api.get(f"/v1/sounds/nope_{word()}")
    assert missing.status_code == 404 and missing.json()["code"] == "sound_not_found"
    assert api.get("/v1/sounds/bad%20id").status_code == 422


def test_uploads_may_name_a_sound_they_can_use_and_get_a_422_naming_the_problem_otherwise(api, sessions):
    alice, bob = Person(api), Person(api)
    _, sid = original(sessions, alice)
    ok = upload(api, bob, sid)
    assert ok.status_code == 201, ok.text
    assert ok.json()["video"]["sound_id"] == sid

    unknown = upload(api, bob, f"nope_{word()}")
    assert unknown.status_code == 422 and unknown.json()["code"] == "sound_not_found"
    assert unknown.json()["errors"][0]["field"] == "sound_id"

    with session_scope(sessions) as s:
        s.get(Sound, sid).reusable = False
    kept = upload(api, bob, sid)
    assert kept.status_code == 422 and kept.json()["code"] == "sound_not_reusable"


@pytest.mark.parametrize("hide", ["private", "followers", "deleted", "removed", "blocked"])
def test_a_hidden_video_s_sound_leaks_nothing_to_others(api, sessions, hide):
    """Its page, its videos and its clip URL answer 404 exactly as a sound that does not exist, anonymous or
    signed in; an upload cannot use it; its creator still sees it (unless deleted or removed), with a signed
    clip URL under the video's prefix, which the edge refuses unsigned."""
    alice, mallory = Person(api), Person(api)
    vid, sid = original(sessions, alice)
    assert api.get(f"/v1/sounds/{sid}", headers=mallory.headers).status_code == 200  # public: visible
    if hide in ("private", "followers"):
        set_video(sessions, vid, privacy=hide)
    elif hide == "deleted":
        assert api.delete(f"/v1/videos/{vid}", headers=alice.headers).status_code == 204
    elif hide == "removed":
        set_video(sessions, vid, state="removed")
    else:
        assert api.post(f"/v1/users/{alice.id}/block", headers=mallory.headers).status_code == 200
    if hide == "followers":  # following does not help: a sound is for everyone or its creator only
        with session_scope(sessions) as s:
            from catalog import social

            social.follow(s, mallory.id, alice.id)

    not_found = api.get(f"/v1/sounds/nope_{word()}", headers=mallory.headers).json()
    for headers in (mallory.headers, {}) if hide != "blocked" else (mallory.headers,):  # a block is per user
        for path in (f"/v1/sounds/{sid}", f"/v1/sounds/{sid}/videos"):
            resp = api.get(path, headers=headers)
            assert resp.status_code == 404, (path, resp.text)
            assert resp.json()["code"] == "sound_not_found" and "audio" not in resp.text and vid not in resp.text
    refused = upload(api, mallory, sid)
    assert refused.status_code == 422 and refused.json()["code"] == not_found["code"] == "sound_not_found"
    assert vid not in refused.text

    mine = api.get(f"/v1/sounds/{sid}", headers=alice.headers)
    if hide in ("deleted", "removed"):
        assert mine.status_code == 404
        own = upload(api, alice, sid)
        assert own.status_code == 422 and own.json()["code"] == "sound_unavailable"
        assert ("deleted" if hide == "deleted" else "removed") in own.json()["detail"]
    elif hide == "blocked":
        assert mine.status_code == 200
    else:
        assert mine.status_code == 200
        url = mine.json()["audio_url"]
        unsigned = api.app.state.services.playback_url(f"v/{vid}/pub1/sound/clip.m4a")
        assert url != unsigned and f"v/{vid}/pub1/sound/clip.m4a" in url  # signed for this video only
        assert upload(api, alice, sid).status_code == 201  # a creator may reuse their own sound
