import asyncio

import pytest

from cdn_sim.cache import LRUCache
from cdn_sim.freshness import max_age_s
from cdn_sim.tier import CachedObject, CacheTier, NotFound


def test_lru_evicts_least_recent_by_bytes():
    c: LRUCache[str] = LRUCache(100)
    c.put("a", "A", 40)
    c.put("b", "B", 40)
    assert c.get("a") == "A"  # a is now most recent
    c.put("c", "C", 40)  # evicts b
    assert "b" not in c and "a" in c and "c" in c
    assert c.used == 80 and c.stats.evictions == 1
    assert not c.put("huge", "H", 101) and c.stats.rejected == 1
    assert c.remove_prefix("a") == 1 and c.used == 40


def test_lru_replacing_a_key_does_not_leak_bytes():
    c: LRUCache[str] = LRUCache(100)
    c.put("a", "1", 60)
    c.put("a", "2", 30)
    assert c.used == 30 and c.get("a") == "2"


@pytest.mark.parametrize("header,expected", [
    ("public, max-age=31536000, immutable", 31536000), ("public, max-age=60", 60),
    ("max-age=60, s-maxage=10", 10), ("no-store", 0), ("private, max-age=60", 0), (None, 0), ("max-age=abc", 0),
])
def test_freshness_from_cache_control(header, expected):
    assert max_age_s(header) == expected


def _obj(body: bytes, cc: str = "max-age=60") -> CachedObject:
    return CachedObject(body, "video/iso.segment", cc, None)


def test_concurrent_misses_share_one_upstream_fetch():
    calls = []

    async def upstream(key: str) -> CachedObject:
        calls.append(key)
        await asyncio.sleep(0.05)
        return _obj(b"x" * 10)

    async def main():
        tier = CacheTier("edge", 1000, upstream)
        results = await asyncio.gather(*(tier.get("vod/seg1") for _ in range(200)))
        assert all(obj.body == b"x" * 10 for obj, _ in results)
        assert calls == ["vod/seg1"]
        assert tier.counters.coalesced == 199
        obj, hit = await tier.get("vod/seg1")
        assert hit

    asyncio.run(main())


def test_expired_objects_are_refetched_and_stale_is_served_when_upstream_fails():
    now = [0.0]
    answers: list[object] = [_obj(b"v1"), RuntimeError("origin down"), _obj(b"v2")]

    async def upstream(key: str) -> CachedObject:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def main():
        tier = CacheTier("edge", 1000, upstream, clock=lambda: now[0])
        assert (await tier.get("k"))[0].body == b"v1"
        now[0] = 61  # expired
        obj, _ = await tier.get("k")
        assert obj.body == b"v1" and tier.counters.stale_served == 1
        obj, hit = await tier.get("k")
        assert obj.body == b"v2" and not hit

    asyncio.run(main())


def test_not_found_propagates_to_every_waiter():
    async def upstream(key: str) -> CachedObject:
        await asyncio.sleep(0.01)
        raise NotFound(key)

    async def main():
        tier = CacheTier("edge", 1000, upstream)
        results = await asyncio.gather(*(tier.get("missing") for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, NotFound) for r in results)
        assert tier.counters.upstream_fetches == 1

    asyncio.run(main())
