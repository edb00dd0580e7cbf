"""Playback tokens and the edge's access cache, without services."""

from __future__ import annotations

import asyncio

import pytest

from cdn_sim.access import Access, AccessCache, AccessUnknown
from cdn_sim.playback_tokens import PlaybackSigner, PlaybackTokenError, split_signed

KEY, OLD_KEY = b"n" * 32, b"o" * 32


def test_a_token_opens_one_video_until_it_expires():
    signer = PlaybackSigner([KEY], ttl_s=600)
    token = signer.token("abc", now=1000)
    assert signer.verify(token, "abc", now=1599) == 1600
    with pytest.raises(PlaybackTokenError, match="expired"):
        signer.verify(token, "abc", now=1600)
    with pytest.raises(PlaybackTokenError, match="not valid for this video"):
        signer.verify(token, "abd", now=1000)
    expires, signature = token.split(".")
    with pytest.raises(PlaybackTokenError, match="not valid"):  # a later expiry is not covered by the signature
        signer.verify(f"{int(expires) + 1}.{signature}", "abc", now=1000)
    for bad in ("", "1600", "x.y", "1600.", "1600.%%%", "9" * 13 + ".AAAA"):
        with pytest.raises(PlaybackTokenError):
            signer.verify(bad, "abc", now=1000)


def test_rotation_signs_with_the_new_key_and_accepts_the_old_one():
    old = PlaybackSigner([OLD_KEY], ttl_s=600).token("abc", now=1000)
    rotated = PlaybackSigner([KEY, OLD_KEY], ttl_s=600)
    assert rotated.verify(old, "abc", now=1000) == 1600
    assert PlaybackSigner([KEY], ttl_s=600).verify(rotated.token("abc", now=1000), "abc", now=1000) == 1600
    with pytest.raises(PlaybackTokenError):
        PlaybackSigner([KEY], ttl_s=600).verify(old, "abc", now=1000)  # the old key retired


def test_keys_must_be_long_and_paths_carry_the_token():
    with pytest.raises(ValueError, match="32 bytes"):
        PlaybackSigner([b"short"], ttl_s=60)
    signer = PlaybackSigner([KEY], ttl_s=60)
    path = signer.signed_path("/vod/v/abc/p/master.m3u8", "abc", now=0)
    token, rest = split_signed(path)
    assert rest == "/vod/v/abc/p/master.m3u8" and signer.verify(token or "", "abc", now=1) == 60
    assert split_signed("/vod/v/abc/p/master.m3u8") == (None, "/vod/v/abc/p/master.m3u8")
    assert split_signed("/t/tok") == ("tok", "/")


class Catalog:
    def __init__(self) -> None:
        self.answer: Access | Exception = Access.PUBLIC
        self.calls = 0

    def __call__(self, video_id: str) -> Access:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_access_cache_asks_once_per_ttl_and_forgets_on_purge():
    clock = [0.0]
    catalog = Catalog()
    cache = AccessCache(catalog, ttl_s=5, clock=lambda: clock[0])

    async def many() -> list[Access]:
        return await asyncio.gather(*(cache.get("v1") for _ in range(20)))

    assert asyncio.run(many()) == [Access.PUBLIC] * 20 and catalog.calls == 1  # concurrent misses share one ask
    catalog.answer = Access.SIGNED
    clock[0] = 4.9
    assert asyncio.run(cache.get("v1")) is Access.PUBLIC and catalog.calls == 1
    cache.invalidate("v1")  # a purge: the next request asks again
    assert asyncio.run(cache.get("v1")) is Access.SIGNED and catalog.calls == 2


def test_a_catalog_outage_serves_the_last_answer_for_a_while_then_nothing():
    clock = [0.0]
    catalog = Catalog()
    cache = AccessCache(catalog, ttl_s=5, stale_s=60, clock=lambda: clock[0])
    assert asyncio.run(cache.get("v1")) is Access.PUBLIC
    catalog.answer = OSError("connection refused")
    clock[0] = 10
    assert asyncio.run(cache.get("v1")) is Access.PUBLIC and cache.stats["stale_served"] == 1
    clock[0] = 12  # within the retry pause: no new ask
    assert asyncio.run(cache.get("v1")) is Access.PUBLIC and catalog.calls == 2
    clock[0] = 61
    with pytest.raises(AccessUnknown, match="v1"):
        asyncio.run(cache.get("v1"))
    with pytest.raises(AccessUnknown):  # never known: nothing to vouch with
        asyncio.run(cache.get("v2"))


def test_the_edge_s_catalog_query_matches_the_catalog_s_rules():
    from adapters import catalog_check
    from catalog.models import SERVABLE_STATES, Privacy

    assert set(catalog_check.SERVABLE_STATES) == {str(s) for s in SERVABLE_STATES}
    assert catalog_check.PUBLIC == Privacy.PUBLIC


def test_playback_keys_come_from_their_own_secret_or_from_the_api_secret():
    from config.settings import Settings

    derived = Settings(api_secret="a" * 40).playback_keys
    assert len(derived) == 1 and len(derived[0]) == 32 and derived != Settings(api_secret="b" * 40).playback_keys
    assert Settings(playback_secret=f"{'n' * 32},{'o' * 32}").playback_keys == [b"n" * 32, b"o" * 32]
    with pytest.raises(ValueError, match="at least 32"):
        Settings(playback_secret="short")
