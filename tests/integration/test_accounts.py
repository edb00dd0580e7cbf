"""Accounts over real PostgreSQL, Redis and SeaweedFS: sign-up and login with passwords, the lock-out, refresh
rotation and reuse detection, logout, logout everywhere (access tokens too), password change, profile and
avatar, and a creator's edits of their own videos. Every test tries what an attacker would."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from PIL import Image

from catalog.db import session_scope
from catalog.models import PendingPurge, RefreshToken, User
from tests.integration.feed_helpers import Person, all_pages, clear_live_keys, make_client, ready_video, word

PASSWORD = "correct horse battery"


pytestmark = pytest.mark.usefixtures("live_keys_cleared")


def signup(api, handle: str | None = None, password: str = PASSWORD, **extra) -> dict:
    resp = api.post("/v1/auth/signup", json={"handle": handle or f"a_{word(10)}", "password": password, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


# ------------------------------------------------------------------------------------ sign-up and login
def test_signup_then_login_with_the_password(api, sessions):
    handle = f"Ann_{word(8)}"
    pair = signup(api, handle, region="eu", display_name="Ann", interests=["#Cats"])
    assert set(pair) == {"user_id", "handle", "access_token", "refresh_token", "expires_in", "refresh_expires_in",
                         "token_type"}
    assert pair["handle"] == handle.lower() and pair["token_type"] == "bearer"
    assert pair["expires_in"] == 15 * 60 and pair["refresh_expires_in"] == 30 * 86400
    me = api.get("/v1/me", headers=bearer(pair)).json()
    assert me["handle"] == handle.lower() and me["has_password"] and me["interests"] == ["cats"]
    # Stored: an argon2id hash, never the password; the refresh token only as its SHA-256.
    with session_scope(sessions) as s:
        user = s.get(User, pair["user_id"])
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        rows = s.query(RefreshToken).filter_by(user_id=user.id).all()
        assert len(rows) == 1 and len(rows[0].token_hash) == 32
        assert pair["refresh_token"].encode() not in rows[0].token_hash

    login = api.post("/v1/auth/login", json={"handle": handle.upper(), "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["user_id"] == pair["user_id"] and login.json()["refresh_token"] != pair["refresh_token"]
    assert api.get("/v1/me", headers=bearer(login.json())).status_code == 200
    assert api.post("/v1/auth/signup", json={"handle": handle, "password": PASSWORD}).status_code == 409


@pytest.mark.parametrize(("body", "field"), [
    ({"password": "short"}, "password"),
    ({"password": "é" * 600}, "password"),  # 1,200 bytes: over the 1,024-byte limit
    ({}, "password"),
    ({"password": PASSWORD, "display_name": "evil\u202eman"}, "display_name"),
])
def test_signup_refuses_bad_passwords_and_names(api, body, field):
    resp = api.post("/v1/auth/signup", json={"handle": f"b_{word(8)}", **body})
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "invalid_request" and resp.json()["errors"][0]["field"] == field


def test_wrong_password_and_unknown_handle_get_the_same_401(api):
    pair = signup(api)
    wrong = api.post("/v1/auth/login", json={"handle": pair["handle"], "password": "not the password"})
    unknown = api.post("/v1/auth/login", json={"handle": f"nobody_{word(8)}", "password": "not the password"})
    for resp in (wrong, unknown):
        assert resp.status_code == 401 and resp.json()["code"] == "invalid_credentials"
        assert resp.json()["detail"] == "the handle or the password is wrong"
    # An account from POST /v1/users without a password cannot be logged into, with any password.
    legacy = Person(api)
    assert api.post("/v1/auth/login", json={"handle": legacy.handle, "password": ""}).status_code == 422
    assert api.post("/v1/auth/login", json={"handle": legacy.handle, "password": "anything!"}).status_code == 401


def test_legacy_sign_up_keeps_working_and_may_set_a_password(api):
    handle = f"l_{word(8)}"
    resp = api.post("/v1/users", json={"handle": handle})
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert token["refresh_token"] and token["refresh_expires_in"] == 30 * 86400
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert api.get("/v1/me", headers=headers).json()["has_password"] is False
    # No password yet: setting one needs no current password.
    set_pw = api.post("/v1/me/password", headers=headers, json={"new_password": PASSWORD})
    assert set_pw.status_code == 200, set_pw.text
    assert api.post("/v1/auth/login", json={"handle": handle, "password": PASSWORD}).status_code == 200
    # With a password in the body, POST /v1/users applies the policy too.
    bad = api.post("/v1/users", json={"handle": f"l_{word(8)}", "password": "short"})
    assert bad.status_code == 422
    good = api.post("/v1/users", json={"handle": (h := f"l_{word(8)}"), "password": PASSWORD})
    assert good.status_code == 201
    assert api.post("/v1/auth/login", json={"handle": h, "password": PASSWORD}).status_code == 200


def test_login_rehashes_a_password_stored_with_old_parameters(api, sessions):
    from catalog.passwords import Parameters, Passwords

    pair = signup(api)
    weak = Passwords(Parameters(time_cost=1, memory_kib=1024, parallelism=1)).hash(PASSWORD)
    with session_scope(sessions) as s:
        s.get(User, pair["user_id"]).password_hash = weak
    assert api.post("/v1/auth/login", json={"handle": pair["handle"], "password": PASSWORD}).status_code == 200
    with session_scope(sessions) as s:
        stored = s.get(User, pair["user_id"]).password_hash
    assert stored != weak and "m=19456,t=2,p=1" in stored


# ------------------------------------------------------------------------------------------- lock-out
def test_wrong_passwords_lock_the_account_even_for_the_right_password(settings, store, catalog_url):
    with make_client(settings, login_account_limit_burst=3, login_account_limit_per_min=1.0,
                     login_ip_limit_burst=1000, login_ip_limit_per_min=1000.0) as api:
        pair = signup(api)
        login = {"handle": pair["handle"]}
        for _ in range(3):
            assert api.post("/v1/auth/login", json={**login, "password": "guess guess"}).status_code == 401
        locked = api.post("/v1/auth/login", json={**login, "password": "guess guess"})
        assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"
        assert 1 <= int(locked.headers["Retry-After"]) <= 60
        # The right password is refused too while the budget is spent: a lock-out must not confirm a guess.
        right = api.post("/v1/auth/login", json={**login, "password": PASSWORD})
        assert right.status_code == 429
        # Another account (another budget) is not locked; successes give their attempt back.
        other = signup(api)
        for _ in range(5):
            ok = api.post("/v1/auth/login", json={"handle": other["handle"], "password": PASSWORD})
            assert ok.status_code == 200
        # The handle is lower-cased for the budget: changing case buys no attempts.
        upper = api.post("/v1/auth/login", json={"handle": pair["handle"].upper(), "password": PASSWORD})
        assert upper.status_code == 429
        # The current password of a password change spends the same budget.
        wrong_current = api.post("/v1/me/password", headers=bearer(pair),
                                 json={"current_password": PASSWORD, "new_password": "another password"})
        assert wrong_current.status_code == 429


def test_wrong_passwords_from_one_address_are_limited_across_accounts(settings, store, catalog_url):
    # Its own Redis prefix: the other tests' wrong passwords come from the same test client address.
    own = settings.model_copy(update={"redis_prefix": f"{settings.redis_prefix}ip{word(4)}:"})
    with make_client(own, login_ip_limit_burst=4, login_ip_limit_per_min=1.0,
                     login_account_limit_burst=1000, login_account_limit_per_min=1000.0) as api:
        victims = [signup(api) for _ in range(3)]
        statuses = [api.post("/v1/auth/login", json={"handle": v["handle"], "password": f"guess {i}"}).status_code
                    for i in range(2) for v in victims]
        assert statuses == [401] * 4 + [429] * 2
        refused = api.post("/v1/auth/login", json={"handle": victims[0]["handle"], "password": PASSWORD})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    clear_live_keys(own)


# ------------------------------------------------------------------------------------ refresh and logout
def test_refresh_rotates_and_a_reused_token_revokes_the_whole_family(api):
    first = signup(api)
    second = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["user_id"] == first["user_id"]
    assert api.get("/v1/me", headers=bearer(second)).status_code == 200
    third = api.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).json()

    # An attacker replays the first token (stolen earlier): reuse. The whole family goes, the newest too.
    replay = api.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["code"] == "token_reused"
    for token in (third["refresh_token"], second["refresh_token"]):
        resp = api.post("/v1/auth/refresh", json={"refresh_token": token})
        assert resp.status_code == 401 and resp.json()["code"] in ("invalid_refresh_token", "token_reused")
    assert api.post("/v1/auth/refresh", json={"refresh_token": third["refresh_token"]}).json()["code"] == \
        "invalid_refresh_token"
    # Another sign-in of the same user (another family) is untouched.
    other = api.post("/v1/auth/login", json={"handle": first["handle"], "password": PASSWORD}).json()
    assert api.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 200


@pytest.mark.parametrize("token", ["x", "not-a-real-token-" * 3, "é" * 40])
def test_unknown_refresh_tokens_are_refused(api, token):
    resp = api.post("/v1/auth/refresh", json={"refresh_token": token})
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_refresh_token"


def test_an_expired_refresh_token_is_refused(api, sessions):
    from datetime import timedelta

    from catalog.accounts import token_digest
    from catalog.models import utcnow

    pair = signup(api)
    with session_scope(sessions) as s:
        row = s.query(RefreshToken).filter_by(token_hash=token_digest(pair["refresh_token"])).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    resp = api.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_refresh_token"


def test_logout_revokes_the_sign_in(api):
    pair = signup(api)
    rotated = api.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
    assert api.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]}).status_code == 204
    assert api.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code == 401
    assert api.post("/v1/auth/logout", json={"refresh_token": "never issued"}).status_code == 204  # no oracle


def test_logout_all_ends_every_refresh_and_access_token(api):
    pair = signup(api)
    phone = api.post("/v1/auth/login", json={"handle": pair["handle"], "password": PASSWORD}).json()
    for p in (pair, phone):
        assert api.get("/v1/me", headers=bearer(p)).status_code == 200
    assert api.post("/v1/auth/logout-all", headers=bearer(phone)).status_code == 204
    for p in (pair, phone):
        resp = api.get("/v1/me", headers=bearer(p))
        assert resp.status_code == 401 and resp.json()["code"] == "invalid_token", resp.text
        assert api.post("/v1/auth/refresh", json={"refresh_token": p["refresh_token"]}).status_code == 401
        # The feed (which reads its token itself) refuses them too.
        assert api.get("/v1/feed", headers=bearer(p)).status_code == 401
    # A new sign-in works, with the new session version.
    again = api.post("/v1/auth/login", json={"handle": pair["handle"], "password": PASSWORD}).json()
    assert api.get("/v1/me", headers=bearer(again)).status_code == 200


def test_logout_all_reaches_another_api_process_within_its_cache_time(api, settings):
    pair = signup(api)
    with make_client(settings, session_cache_s=0.5) as other:
        assert other.get("/v1/me", headers=bearer(pair)).status_code == 200  # cached there now
        assert api.post("/v1/auth/logout-all", headers=bearer(pair)).status_code == 204
        time.sleep(0.6)
        assert other.get("/v1/me", headers=bearer(pair)).status_code == 401


def test_session_version_checks_are_mostly_in_memory(api):
    """The auth dependency's cost on a hot path: one Redis GET per user per couple of seconds, else a dict."""
    pair = signup(api)
    versions = api.app.state.services.versions
    before = dict(versions.stats)
    for _ in range(20):
        assert api.get("/v1/me", headers=bearer(pair)).status_code == 200
    after = versions.stats
    assert after["local"] - before["local"] >= 18 and after["db"] - before["db"] <= 1


def test_dev_tokens_are_off_in_production(settings, store, catalog_url):
    import secrets

    with make_client(settings, dev_auth=False, api_secret=secrets.token_urlsafe(32)) as prod:
        resp = prod.post("/v1/auth/dev-token", json={"handle": f"d_{word(6)}"})
        assert resp.status_code == 404
        pair = signup(prod)  # signing up with a password works in production
        assert prod.get("/v1/me", headers=bearer(pair)).status_code == 200


# ------------------------------------------------------------------------------------- password change
def test_password_change_ends_other_sessions_and_keeps_this_one(api):
    pair = signup(api)
    other = api.post("/v1/auth/login", json={"handle": pair["handle"], "password": PASSWORD}).json()
    wrong = api.post("/v1/me/password", headers=bearer(pair),
                     json={"current_password": "not it at all", "new_password": "a new password"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "invalid_credentials"
    missing = api.post("/v1/me/password", headers=bearer(pair), json={"new_password": "a new password"})
    assert missing.status_code == 422
    weak = api.post("/v1/me/password", headers=bearer(pair), json={"current_password": PASSWORD,
                                                                   "new_password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    changed = api.post("/v1/me/password", headers=bearer(pair),
                       json={"current_password": PASSWORD, "new_password": "a new password"})
    assert changed.status_code == 200, changed.text
    fresh = changed.json()
    assert api.get("/v1/me", headers=bearer(fresh)).status_code == 200
    for old in (pair, other):
        assert api.get("/v1/me", headers=bearer(old)).status_code == 401
        assert api.post("/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code == 401
    assert api.post("/v1/auth/login", json={"handle": pair["handle"], "password": PASSWORD}).status_code == 401
    assert api.post("/v1/auth/login", json={"handle": pair["handle"],
                                            "password": "a new password"}).status_code == 200
    assert api.post("/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 200


# --------------------------------------------------------------------------------------------- profile
@pytest.mark.parametrize(("body", "field"), [
    ({"display_name": "a\x00b"}, "display_name"),
    ({"display_name": "bell\x07"}, "display_name"),
    ({"display_name": "   "}, "display_name"),
    ({"display_name": "x" * 65}, "display_name"),
    ({"bio": "line\x1b[31mred"}, "bio"),
    ({"bio": "x" * 301}, "bio"),
    ({"bio": "\u2066isolate"}, "bio"),
    ({"handle": "newhandle"}, "handle"),  # not editable here
])
def test_profile_edits_refuse_bad_text(api, body, field):
    pair = signup(api)
    resp = api.patch("/v1/me", headers=bearer(pair), json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == field


def test_profile_edit_is_mine_only(api):
    me, other = signup(api), signup(api)
    resp = api.patch("/v1/me", headers=bearer(me), json={"display_name": "  Me Myself ", "bio": "hello\nworld"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["display_name"] == "Me Myself" and resp.json()["bio"] == "hello\nworld"
    public = api.get(f"/v1/users/{me['user_id']}").json()
    assert public["bio"] == "hello\nworld" and "has_password" not in public
    # There is no way to address another user's profile; anonymous edits are refused.
    assert api.patch("/v1/me", json={"bio": "pwned"}).status_code == 401
    assert api.patch(f"/v1/users/{me['user_id']}", headers=bearer(other), json={"bio": "pwned"}).status_code == 405
    assert api.get(f"/v1/users/{me['user_id']}").json()["bio"] == "hello\nworld"


# ---------------------------------------------------------------------------------------------- avatar
def _photo(width: int = 640, height: int = 480, exif: bool = True, colour=(20, 120, 220)) -> bytes:
    img = Image.new("RGB", (width, height), colour)
    buf = io.BytesIO()
    extra = {}
    if exif:
        e = Image.Exif()
        e[0x010F] = "TraceableCam"
        extra["exif"] = e.tobytes()
    img.save(buf, "JPEG", **extra)
    return buf.getvalue()


def test_avatar_upload_is_stored_in_s3_and_replaced_and_deleted(api, settings, store):
    pair = signup(api)
    resp = api.put("/v1/me/avatar", headers={**bearer(pair), "Content-Type": "image/jpeg"}, content=_photo())
    assert resp.status_code == 200, resp.text
    url = resp.json()["avatar_url"]
    prefix = f"{settings.edge_public_url.rstrip('/')}/{settings.vod_bucket}/"
    assert url.startswith(prefix)
    key = url[len(prefix):]
    assert key.startswith(f"u/{pair['user_id']}/avatar/") and key.endswith("-256.jpg")
    stored = store.get(settings.vod_bucket, key)
    assert stored.body[:2] == b"\xff\xd8" and b"TraceableCam" not in stored.body
    assert stored.content_type == "image/jpeg" and stored.cache_control == "public, max-age=3600"
    small_key = resp.json()["avatar_small_url"][len(prefix):]
    assert Image.open(io.BytesIO(store.get(settings.vod_bucket, small_key).body)).size == (64, 64)
    # Others see it on the public profile.
    assert api.get(f"/v1/users/{pair['user_id']}").json()["avatar_url"] == url

    second = api.put("/v1/me/avatar", headers=bearer(pair),
                     content=_photo(300, 500, colour=(200, 0, 0))).json()["avatar_url"]
    assert second != url
    assert store.stat(settings.vod_bucket, key) is None  # the old one is gone from the origin
    assert api.delete("/v1/me/avatar", headers=bearer(pair)).status_code == 204
    assert api.get("/v1/me", headers=bearer(pair)).json()["avatar_url"] is None
    assert store.list_keys(settings.vod_bucket, f"u/{pair['user_id']}/") == []


def test_hostile_avatars_are_refused(api, settings, store):
    from tests.unit.test_avatar import png_bomb

    pair = signup(api)
    photo = _photo()
    for body in (b"hello, I am text" * 20, photo[: len(photo) // 2], png_bomb(20000, 20000)):
        resp = api.put("/v1/me/avatar", headers=bearer(pair), content=body)
        assert resp.status_code == 415 and resp.json()["code"] == "bad_image", resp.text
    # Over the avatar limit: refused before it is read (the route's own larger limit, not 128 KiB).
    big = api.put("/v1/me/avatar", headers=bearer(pair), content=b"\0" * (settings.max_avatar_bytes + 1))
    assert big.status_code == 413
    # Only this route takes large bodies: a JSON route still refuses 200 KiB.
    assert api.patch("/v1/me", headers=bearer(pair), content=b" " * 200_000).status_code == 413
    assert api.put("/v1/me/avatar", content=photo).status_code == 401
    assert store.list_keys(settings.vod_bucket, f"u/{pair['user_id']}/") == []


# ------------------------------------------------------------------------------------------ own videos
def test_video_edits_are_the_creators_only_and_recompute_hashtags(api, sessions):
    creator, other = signup(api), signup(api)
    vid = ready_video(sessions, creator["user_id"], tags=("picked",))
    with session_scope(sessions) as s:
        from catalog.models import Video

        s.get(Video, vid).caption = "sunset #Beach #gold"
        s.get(Video, vid).hashtags = ["picked", "Beach", "gold"]
        s.get(Video, vid).tag_keys = ["picked", "beach", "gold"]
    # Someone else: refused (as every owner route answers), nothing changes.
    for headers in (bearer(other), {}):
        resp = api.patch(f"/v1/videos/{vid}", headers=headers, json={"caption": "pwned", "privacy": "private"})
        assert resp.status_code in (401, 403), resp.text
    assert api.patch("/v1/videos/0123456789abcdef", headers=bearer(creator), json={"caption": "x"}).status_code == 404

    edited = api.patch(f"/v1/videos/{vid}", headers=bearer(creator), json={"caption": "sunrise #beach #Sea"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["caption"] == "sunrise #beach #Sea"
    assert edited.json()["hashtags"] == ["picked", "beach", "Sea"]  # gold left with the caption, picked stays
    with session_scope(sessions) as s:
        assert s.get(Video, vid).tag_keys == ["picked", "beach", "sea"]
    tag_feed, _ = all_pages(api, bearer(other), {"type": "hashtag", "tag": "sea", "limit": 20})
    assert vid in {i["id"] for i in tag_feed}
    bad = api.patch(f"/v1/videos/{vid}", headers=bearer(creator), json={"caption": "nul\x00here"})
    assert bad.status_code == 422
    assert api.patch(f"/v1/videos/{vid}", headers=bearer(creator), json={"privacy": "secret"}).status_code == 422


def test_making_a_video_private_hides_it_from_everyone_else_at_once(api, sessions):
    creator, fan = signup(api), signup(api)
    assert api.post(f"/v1/users/{creator['user_id']}/follow", headers=bearer(fan)).status_code == 200
    tag = f"t{word(8)}"
    vid = ready_video(sessions, creator["user_id"], tags=(tag,))
    stranger = signup(api)
    # Seen everywhere first (and its card cached).
    assert api.get(f"/v1/videos/{vid}", headers=bearer(stranger)).status_code == 200
    items, _ = all_pages(api, bearer(stranger), {"type": "hashtag", "tag": tag, "limit": 20})
    assert vid in {i["id"] for i in items}
    assert vid in [i["id"] for i in api.get("/v1/search", params={"q": f"#{tag}"}).json()["items"]]

    resp = api.patch(f"/v1/videos/{vid}", headers=bearer(creator), json={"privacy": "private"})
    assert resp.status_code == 200 and resp.json()["privacy"] == "private"
    assert api.app.state.services.purger.calls[-1] == vid  # the edge purge, through the outbox
    with session_scope(sessions) as s:
        assert s.get(PendingPurge, vid) is None  # done (and the origin kept: keep_origin)

    for who in (bearer(stranger), bearer(fan), {}):
        assert api.get(f"/v1/videos/{vid}", headers=who).status_code == 404
        assert vid not in [i["id"] for i in api.get("/v1/search", params={"q": f"#{tag}"}, headers=who)
                           .json()["items"]]
    for who in (bearer(stranger), bearer(fan)):
        for params in ({"type": "hashtag", "tag": tag}, {"type": "for_you"}, {"type": "following"}):
            items, _ = all_pages(api, who, {"limit": 20, **params})
            assert vid not in {i["id"] for i in items}, params
        listed = api.get(f"/v1/users/{creator['user_id']}/videos", headers=who).json()["items"]
        assert vid not in {i["id"] for i in listed}
    # The creator still has it, with a signed URL now.
    own = api.get(f"/v1/videos/{vid}", headers=bearer(creator)).json()
    assert "/t/" in httpx.URL(own["playback_url"]).path

    # Followers-only: the fan sees it again, the stranger does not; widening needs no purge.
    calls = len(api.app.state.services.purger.calls)
    assert api.patch(f"/v1/videos/{vid}", headers=bearer(creator), json={"privacy": "followers"}).status_code == 200
    assert len(api.app.state.services.purger.calls) == calls
    assert api.get(f"/v1/videos/{vid}", headers=bearer(fan)).status_code == 200
    assert api.get(f"/v1/videos/{vid}", headers=bearer(stranger)).status_code == 404
