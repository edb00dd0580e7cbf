"""The tier chain and the edge application, with an in-process origin (no sockets)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cdn_sim.cdn import CDN, first_segment_keys, media_playlist_keys, resolve_key
from cdn_sim.edge import EdgeApp
from cdn_sim.http import Request, content_type_for, is_loopback
from cdn_sim.tier import CachedObject, CacheTier, NotFound, Outcome
from cdn_sim.topology import default_topology
from cdn_sim.transport import parse_http1_head

SEGMENT_CC = "public, max-age=31536000, immutable"
PLAYLIST_CC = "public, max-age=60"


class FakeOrigin:
    """An S3 stand-in: counts fetches, can be slowed down, gated or made to fail."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str, str | None]] = {}
        self.calls: list[str] = []
        self.fail = False
        self.delay = 0.0
        self.gate: asyncio.Event | None = None

    def put(self, key: str, body: bytes, cache_control: str | None = SEGMENT_CC,
            content_type: str = "video/iso.segment") -> None:
        self.objects[key] = (body, content_type, cache_control)

    async def __call__(self, key: str) -> CachedObject:
        self.calls.append(key)
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("origin down")
        if key not in self.objects:
            raise NotFound(key)
        body, ctype, cc = self.objects[key]
        return CachedObject(body, ctype, cc, f'"{hash(body) & 0xffff:x}"')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_cdn(origin: FakeOrigin, clock: Clock | None = None, edge_bytes: int = 10_000_000) -> CDN:
    kwargs = {"clock": clock} if clock else {}
    return CDN(default_topology(), origin, edge_bytes=edge_bytes, regional_bytes=2 * edge_bytes,
               shield_bytes=4 * edge_bytes, **kwargs)


def counters(cdn: CDN) -> dict[str, dict[str, int]]:
    return {t.name: vars(t.counters) for t in cdn.tiers}


# -- the chain ---------------------------------------------------------------------------------------

def test_flash_crowd_on_every_pop_reaches_the_origin_once_and_every_tier_coalesces():
    origin = FakeOrigin()
    origin.put("vod/v/a/p/seg0.m4s", b"s" * 5000)
    origin.delay = 0.05
    cdn = make_cdn(origin)
    pops = list(cdn.edges)

    async def main():
        return await asyncio.gather(*(cdn.get("vod/v/a/p/seg0.m4s", "eu", pop=pops[i % len(pops)])
                                      for i in range(1000)))

    results = asyncio.run(main())
    assert all(d.obj.body == b"s" * 5000 for d in results)
    assert origin.calls == ["vod/v/a/p/seg0.m4s"]
    c = counters(cdn)
    for pop in pops:  # ~167 requests per POP, one of them went upstream
        assert c[pop]["upstream_fetches"] == 1
        assert c[pop]["coalesced"] == c[pop]["misses"] - 1 > 100
    for region in ("eu", "us", "ap"):  # two POPs per region: one regional fetch, one coalesced
        assert c[f"regional-{region}"]["upstream_fetches"] == 1 and c[f"regional-{region}"]["coalesced"] == 1
    assert c["shield"]["upstream_fetches"] == 1 and c["shield"]["coalesced"] == 2
    assert sum(c[p]["misses"] for p in pops) == 1000


def test_clients_are_routed_to_their_region_and_fail_over_to_the_nearest_pop():
    origin = FakeOrigin()
    origin.put("vod/x", b"x")
    cdn = make_cdn(origin)

    async def served_by(region: str) -> str:
        return (await cdn.get("vod/x", region)).pop.name

    async def main():
        assert await served_by("eu") == "eu-1"
        cdn.set_down("eu-1")
        assert await served_by("eu") == "eu-2"
        cdn.set_down("eu-2")
        assert await served_by("eu") == "us-1"  # 80 ms beats ap's 160 ms
        assert await served_by("ap") == "ap-1"
        cdn.set_down("eu-1", False)
        assert await served_by("eu") == "eu-1"
        for pop in list(cdn.edges):
            cdn.set_down(pop)
        with pytest.raises(LookupError):
            await served_by("us")
        cdn.set_down("us-2", False)
        assert (await cdn.get("vod/x", "eu", pop="eu-2")).pop.name == "us-2"  # a pinned POP that is down

    asyncio.run(main())
    with pytest.raises(ValueError):
        cdn.set_down("mars-1")


def test_purge_removes_a_video_at_every_tier_and_a_later_request_refetches():
    origin = FakeOrigin()
    for name in ("seg0.m4s", "seg1.m4s", "index.m3u8"):
        origin.put(f"vod/v/vid1/p1/{name}", name.encode())
    origin.put("vod/v/vid10/p1/seg0.m4s", b"other video")  # shares the prefix "vid1" without the slash
    cdn = make_cdn(origin)

    async def main():
        for key in list(origin.objects):
            for pop in cdn.edges:
                await cdn.get(key, "eu", pop=pop)
        assert len(origin.calls) == 4
        removed = cdn.purge_video("vid1")
        assert removed == {**{p: 3 for p in cdn.edges}, **{f"regional-{r}": 3 for r in ("eu", "us", "ap")},
                           "shield": 3}
        assert all(len(t.cache) == 1 for t in cdn.tiers)  # vid10 stays everywhere
        d = await cdn.get("vod/v/vid1/p1/seg0.m4s", "us")
        assert d.outcome is Outcome.MISS and origin.calls[-1] == "vod/v/vid1/p1/seg0.m4s" and len(origin.calls) == 5

    asyncio.run(main())
    with pytest.raises(ValueError):
        cdn.purge_video("../etc")


def test_a_fetch_in_flight_during_a_purge_is_not_stored():
    origin = FakeOrigin()
    origin.put("vod/v/gone/p/seg0.m4s", b"old")
    cdn = make_cdn(origin)

    async def main():
        origin.gate = asyncio.Event()
        first = asyncio.ensure_future(cdn.get("vod/v/gone/p/seg0.m4s", "eu"))
        await asyncio.sleep(0.01)
        cdn.purge_video("gone")
        origin.gate.set()
        assert (await first).obj.body == b"old"  # the waiting client is still answered
        assert all("vod/v/gone/p/seg0.m4s" not in t.cache for t in cdn.tiers)

    asyncio.run(main())


def test_a_purged_copy_is_not_served_stale_when_the_origin_errs_meanwhile():
    origin = FakeOrigin()
    origin.put("vod/v/del/p/index.m3u8", b"v1", PLAYLIST_CC)
    clock = Clock()
    cdn = make_cdn(origin, clock)

    async def main():
        await cdn.get("vod/v/del/p/index.m3u8", "eu")
        clock.now += 120
        origin.fail, origin.gate = True, asyncio.Event()
        refresh = asyncio.ensure_future(cdn.get("vod/v/del/p/index.m3u8", "eu"))
        await asyncio.sleep(0.01)
        cdn.purge_video("del")  # the video is deleted while its refresh is failing
        origin.gate.set()
        with pytest.raises(ConnectionError):
            await refresh

    asyncio.run(main())


def test_push_warms_every_edge_so_the_next_request_is_a_hit():
    origin = FakeOrigin()
    origin.put("vod/v/t/p/master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n"
               b"360p/index.m3u8\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"audio/index.m3u8\"\n",
               PLAYLIST_CC, "application/vnd.apple.mpegurl")
    for rendition in ("360p", "audio"):
        origin.put(f"vod/v/t/p/{rendition}/index.m3u8",
                   b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n"
                   + b"".join(b"#EXTINF:2.0,\nseg%d.m4s\n" % i for i in range(5)) + b"#EXT-X-ENDLIST\n",
                   PLAYLIST_CC, "application/vnd.apple.mpegurl")
        origin.put(f"vod/v/t/p/{rendition}/init.mp4", b"init")
        for i in range(5):
            origin.put(f"vod/v/t/p/{rendition}/seg{i}.m4s", b"seg%d" % i)
    cdn = make_cdn(origin)

    async def main():
        report = await cdn.push_hls(["vod/v/t/p/master.m3u8"], segments=2)
        assert sorted(report.keys) == sorted(["vod/v/t/p/master.m3u8", "vod/v/t/p/360p/index.m3u8",
                                              "vod/v/t/p/audio/index.m3u8", "vod/v/t/p/360p/init.mp4",
                                              "vod/v/t/p/360p/seg0.m4s", "vod/v/t/p/360p/seg1.m4s",
                                              "vod/v/t/p/audio/init.mp4", "vod/v/t/p/audio/seg0.m4s",
                                              "vod/v/t/p/audio/seg1.m4s"])
        assert report.fetched == 9 * 6 and not report.missing and not report.errors
        assert sorted(origin.calls) == sorted(report.keys)  # each object left the origin once
        for region in ("eu", "us", "ap"):
            d = await cdn.get("vod/v/t/p/360p/seg1.m4s", region)
            assert d.outcome is Outcome.HIT
        assert (await cdn.get("vod/v/t/p/360p/seg2.m4s", "eu")).outcome is Outcome.MISS  # not pushed
        assert all(cdn.edges[p].counters.prefetched == 9 for p in cdn.edges)
        cdn.set_down("ap-2")
        again = await cdn.push(["vod/v/t/p/360p/seg0.m4s", "vod/v/t/p/nope.m4s"])
        assert "ap-2" not in again.pops and again.already_fresh == 5 and again.missing == ["vod/v/t/p/nope.m4s"]

    asyncio.run(main())


def test_playlists_expire_and_refetch_immutable_segments_do_not():
    origin = FakeOrigin()
    origin.put("vod/v/c/p/index.m3u8", b"#EXTM3U\n", PLAYLIST_CC)
    origin.put("vod/v/c/p/seg0.m4s", b"seg", SEGMENT_CC)
    origin.put("vod/v/c/p/live.m3u8", b"#EXTM3U\n", "no-store")
    clock = Clock()
    cdn = make_cdn(origin, clock)

    async def main():
        for key in ("vod/v/c/p/index.m3u8", "vod/v/c/p/seg0.m4s"):
            await cdn.get(key, "eu")
        clock.now += 50
        await cdn.get("vod/v/c/p/index.m3u8", "us")  # from the shield, cached 50 s ago: 10 s left at us-1
        assert origin.calls.count("vod/v/c/p/index.m3u8") == 1
        clock.now += 11  # 61 s after the origin answered: stale at every tier
        for region in ("eu", "us"):
            assert (await cdn.get("vod/v/c/p/index.m3u8", region)).outcome is Outcome.MISS
        assert origin.calls.count("vod/v/c/p/index.m3u8") == 2
        clock.now += 86400 * 30
        assert (await cdn.get("vod/v/c/p/seg0.m4s", "eu")).outcome is Outcome.HIT
        assert origin.calls.count("vod/v/c/p/seg0.m4s") == 1
        for _ in range(2):
            await cdn.get("vod/v/c/p/live.m3u8", "eu")
        assert origin.calls.count("vod/v/c/p/live.m3u8") == 2  # no-store: never kept
        assert all("vod/v/c/p/live.m3u8" not in t.cache for t in cdn.tiers)

    asyncio.run(main())


def test_stale_is_served_when_the_origin_errs():
    origin = FakeOrigin()
    origin.put("vod/v/s/p/index.m3u8", b"v1", PLAYLIST_CC)
    clock = Clock()
    cdn = make_cdn(origin, clock)

    async def main():
        await cdn.get("vod/v/s/p/index.m3u8", "eu")
        clock.now += 120
        origin.fail = True
        d = await cdn.get("vod/v/s/p/index.m3u8", "eu")
        assert d.obj.body == b"v1" and d.outcome is Outcome.STALE
        with pytest.raises(ConnectionError):
            await cdn.get("vod/v/s/p/never-cached.m3u8", "eu")
        origin.fail = False
        origin.put("vod/v/s/p/index.m3u8", b"v2", PLAYLIST_CC)
        d = await cdn.get("vod/v/s/p/index.m3u8", "eu")
        assert d.obj.body == b"v2" and d.outcome is Outcome.MISS

    asyncio.run(main())
    assert cdn.shield.counters.stale_served == 1 and cdn.shield.counters.upstream_errors == 2


def test_a_requester_that_goes_away_does_not_cancel_the_shared_fetch():
    origin = FakeOrigin()
    origin.put("k", b"v")
    origin.delay = 0.05

    async def main():
        tier = CacheTier("t", 1000, origin)
        first = asyncio.ensure_future(tier.get("k"))
        second = asyncio.ensure_future(tier.get("k"))
        await asyncio.sleep(0.01)
        first.cancel()
        assert (await second)[0].body == b"v"
        assert origin.calls == ["k"]

    asyncio.run(main())


def test_a_cache_object_can_be_injected():
    class CountingCache(dict):
        capacity, used = 100, 0

        class stats:  # noqa: N801
            evictions = 7

        def put(self, key, value, size):
            self[key] = value
            return True

        def remove(self, key):
            return self.pop(key, None) is not None

        def remove_prefix(self, prefix):
            keys = [k for k in self if k.startswith(prefix)]
            for k in keys:
                del self[k]
            return len(keys)

    origin = FakeOrigin()
    origin.put("a", b"1")
    cache = CountingCache()
    tier = CacheTier("t", cache, origin)
    asyncio.run(tier.get("a"))
    assert "a" in cache and tier.cache is cache


@pytest.mark.parametrize("policy", ["lru", "sieve", "s3fifo"])
def test_every_eviction_policy_runs_the_chain(policy):
    from cdn_sim.server import build_cdn

    origin = FakeOrigin()
    for i in range(20):
        origin.put(f"vod/v/p{i % 2}/s{i}", b"x" * 300)
    cdn = build_cdn(origin, edge_bytes=1000, policy=policy)

    async def main():
        for i in range(20):
            await asyncio.gather(*(cdn.get(f"vod/v/p{i % 2}/s{i}", "eu") for _ in range(3)))
        assert len(origin.calls) == 20 and cdn.edges["eu-1"].counters.coalesced == 40
        assert cdn.edges["eu-1"].cache.used <= 1000 and cdn.edges["eu-1"].cache.stats.evictions > 0
        cdn.purge_video("p0")
        assert not any(k.startswith("vod/v/p0/") for t in cdn.tiers for k in t.cache.keys())  # noqa: SIM118

    asyncio.run(main())


def test_hls_references_resolve_inside_the_bucket():
    assert resolve_key("vod/v/x/p/master.m3u8", "720p/index.m3u8") == "vod/v/x/p/720p/index.m3u8"
    assert resolve_key("vod/v/x/p/720p/index.m3u8", "../audio/seg0.m4s") == "vod/v/x/p/audio/seg0.m4s"
    assert resolve_key("vod/v/x/p/m.m3u8", "https://localhost:8443/vod/v/x/p/a.m3u8") == "vod/v/x/p/a.m3u8"
    assert resolve_key("vod/v/x/p/m.m3u8", "../../../../raw/secret") is None
    assert media_playlist_keys("#EXTM3U\n#EXTINF:2,\nseg0.m4s\n", "vod/a/index.m3u8") == []
    assert first_segment_keys("#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:2,\ns0.m4s\n#EXTINF:2,\ns1.m4s\n",
                              "vod/a/index.m3u8", 1) == ["vod/a/i.mp4", "vod/a/s0.m4s"]


# -- the edge application ----------------------------------------------------------------------------

@pytest.fixture
def app(tmp_path: Path):
    web = tmp_path / "web"
    (web / "js").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>player</title>")
    (web / "js" / "app.js").write_text("console.log('hi')")
    (web / ".secret").write_text("no")
    (tmp_path / "outside.txt").write_text("private")
    (web / "link.txt").symlink_to(tmp_path / "outside.txt")
    origin = FakeOrigin()
    origin.put("vod/v/e/p/seg0.m4s", bytes(range(256)) * 4)  # 1024 bytes
    origin.put("vod/v/e/p/index.m3u8", b"#EXTM3U\n", PLAYLIST_CC, "binary/octet-stream")  # S3's generic type
    origin.put("vod/v/e/p/subs.vtt", b"WEBVTT\n", PLAYLIST_CC, "application/octet-stream")
    cdn = make_cdn(origin)
    edge = EdgeApp(cdn, ("vod",), default_region="us", static_dir=web)
    edge.origin = origin  # type: ignore[attr-defined]
    return edge


def call(app: EdgeApp, method: str, target: str, peer: str = "127.0.0.1", body: bytes = b"", **headers: str):
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    return asyncio.run(app.handle(Request(method, target, hdrs, body, peer, "h3")))


def test_objects_carry_cache_headers_cors_and_content_types(app):
    first = call(app, "GET", "/vod/v/e/p/seg0.m4s")
    second = call(app, "GET", "/vod/v/e/p/seg0.m4s")
    assert first.status == 200 and len(first.body) == 1024
    assert first.header("x-cache") == "MISS" and second.header("x-cache") == "HIT"
    assert first.header("x-served-by") == "us-1"  # the default region
    assert first.header("access-control-allow-origin") == "*"
    assert "X-Cache" in first.header("access-control-expose-headers")
    assert first.header("accept-ranges") == "bytes" and first.header("cache-control") == SEGMENT_CC
    playlist = call(app, "GET", "/vod/v/e/p/index.m3u8?region=ap")
    assert playlist.header("content-type") == "application/vnd.apple.mpegurl"  # generic origin type replaced
    assert playlist.header("x-served-by") == "ap-1"
    assert call(app, "GET", "/vod/v/e/p/subs.vtt", x_client_region="eu").header("x-served-by") == "eu-1"
    assert call(app, "GET", "/vod/v/e/p/subs.vtt").header("content-type").startswith("text/vtt")
    assert call(app, "GET", "/vod/v/e/p/subs.vtt?region=mars").header("x-served-by") == "us-1"
    assert call(app, "GET", "/vod/v/e/p/subs.vtt?pop=eu-2").header("x-served-by") == "eu-2"
    assert call(app, "GET", "/vod/v/e/p/subs.vtt?pop=mars-9").status == 400
    etag = first.header("etag")
    assert call(app, "GET", "/vod/v/e/p/seg0.m4s", if_none_match=etag).status == 304
    assert content_type_for("a/b.js") == "text/javascript; charset=utf-8"
    assert content_type_for("x.m4s", "video/mp4") == "video/mp4"


def test_byte_ranges(app):
    r = call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=0-99")
    assert r.status == 206 and r.body == (bytes(range(256)) * 4)[:100]
    assert r.header("content-range") == "bytes 0-99/1024" and r.header("content-length") == "100"
    r = call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=-24")
    assert r.status == 206 and r.header("content-range") == "bytes 1000-1023/1024" and len(r.body) == 24
    r = call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=1000-")
    assert r.status == 206 and len(r.body) == 24
    r = call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=2000-")
    assert r.status == 416 and r.header("content-range") == "bytes */1024"
    assert call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=zz").status == 416
    r = call(app, "HEAD", "/vod/v/e/p/seg0.m4s", range="bytes=0-9")
    assert r.status == 206 and r.body == b"" and r.header("content-length") == "10"
    r = call(app, "HEAD", "/vod/v/e/p/seg0.m4s")
    assert r.status == 200 and r.body == b"" and r.header("content-length") == "1024"
    etag = r.header("etag")
    assert call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=0-9", if_range=etag).status == 206
    assert call(app, "GET", "/vod/v/e/p/seg0.m4s", range="bytes=0-9", if_range='"old"').status == 200


def test_cors_preflight(app):
    r = call(app, "OPTIONS", "/vod/v/e/p/seg0.m4s", origin="https://player.example",
             access_control_request_method="GET", access_control_request_headers="range")
    assert r.status == 204
    assert r.header("access-control-allow-origin") == "*"
    assert "GET" in r.header("access-control-allow-methods")
    assert "Range" in r.header("access-control-allow-headers")
    assert "POST" not in r.header("access-control-allow-methods")  # admin calls cannot come from a page


def test_player_static_files_and_traversal(app):
    index = call(app, "GET", "/player/")
    assert index.status == 200 and index.header("content-type") == "text/html; charset=utf-8"
    assert call(app, "GET", "/player").status == 301
    js = call(app, "GET", "/player/js/app.js")
    assert js.status == 200 and js.header("content-type").startswith("text/javascript")
    assert call(app, "GET", "/player/js/app.js", if_none_match=js.header("etag")).status == 304
    assert call(app, "GET", "/player/../outside.txt").status == 400
    assert call(app, "GET", "/player/%2e%2e/outside.txt").status == 400
    assert call(app, "GET", "/player/js/..%2f..%2foutside.txt").status == 400
    assert call(app, "GET", "/player/link.txt").status == 403  # a symlink out of the directory
    assert call(app, "GET", "/player/.secret").status == 404
    assert call(app, "GET", "/player/missing.js").status == 404
    assert call(app, "GET", "/player/%00").status == 400


def test_hostile_requests_get_clear_4xx(app):
    assert call(app, "DELETE", "/vod/v/e/p/seg0.m4s").status == 405
    assert call(app, "BREW", "/vod/v/e/p/seg0.m4s").header("allow") == "GET, HEAD, OPTIONS"
    assert call(app, "GET", "/vod/" + "a" * 10_000).status == 414
    assert call(app, "GET", "/vod/a\\b").status == 400
    assert call(app, "GET", "/raw/uploads/x").status == 404
    assert call(app, "GET", "/vod/v/e/p/").status == 404
    assert call(app, "GET", "/vod/v/e/p/nope.m4s").status == 404


def test_origin_error_without_a_stale_copy_is_502(app):
    app.origin.fail = True
    r = call(app, "GET", "/vod/v/e/p/seg0.m4s")
    assert r.status == 502 and r.header("x-served-by") == "us-1"


def test_admin_is_loopback_only_and_refuses_browsers(app):
    assert call(app, "POST", "/admin/purge/e", peer="192.0.2.7").status == 403
    assert call(app, "POST", "/admin/purge/e", origin="https://evil.example").status == 403
    assert call(app, "GET", "/admin/purge/e").status == 405
    assert call(app, "POST", "/admin/purge/not%20an%20id").status == 400
    assert call(app, "POST", "/admin/nothing").status == 404
    call(app, "GET", "/vod/v/e/p/seg0.m4s")
    r = call(app, "POST", "/admin/purge/e", peer="::ffff:127.0.0.1")
    assert r.status == 200 and json.loads(r.body)["total"] == 3  # us-1, regional-us, shield
    assert call(app, "POST", "/admin/pops/us-1/down", peer="::1").status == 200
    assert call(app, "GET", "/vod/v/e/p/seg0.m4s").header("x-served-by") == "us-2"
    assert call(app, "POST", "/admin/pops/zz-9/down").status == 404
    r = call(app, "POST", "/admin/push", body=json.dumps({"keys": ["/vod/v/e/p/index.m3u8"]}).encode())
    assert r.status == 200 and json.loads(r.body)["fetched"] == 5  # every POP but us-1, which is down
    assert call(app, "POST", "/admin/push", body=b"{not json").status == 400
    assert call(app, "POST", "/admin/push", body=b'{"keys": ["/raw/x"]}').status == 400
    assert call(app, "POST", "/admin/push", body=b'{"keys": ["/vod/../raw/x"]}').status == 400
    assert call(app, "POST", "/admin/push", body=b'{"playlists": ["/vod/a.m3u8"], "segments": -1}').status == 400
    status = json.loads(call(app, "GET", "/admin/cdn").body)
    assert status["down"] == ["us-1"] and {t["name"] for t in status["tiers"]} >= {"shield", "regional-eu"}
    assert is_loopback("::1") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")
    assert not is_loopback("")


def test_metrics_count_what_happened(app):
    for _ in range(3):
        call(app, "GET", "/vod/v/e/p/seg0.m4s")
    text = call(app, "GET", "/metrics").body.decode()
    assert 'reelflow_cdn_hits_total{level="edge",tier="us-1"} 2.0' in text
    assert 'reelflow_cdn_misses_total{level="edge",tier="us-1"} 1.0' in text
    assert 'reelflow_cdn_upstream_fetches_total{level="shield",tier="shield"} 1.0' in text
    assert 'reelflow_cdn_miss_bytes_total{level="regional",tier="regional-us"} 1024.0' in text
    assert 'reelflow_cdn_cache_used_bytes{level="edge",tier="us-1"} 1024.0' in text
    assert 'reelflow_cdn_evictions_total{level="edge",tier="eu-1"} 0.0' in text
    assert 'reelflow_edge_responses_total{protocol="h3",status="200"} 3.0' in text


def test_metrics_count_coalesced_requests_and_evictions():
    origin = FakeOrigin()
    for i in range(3):
        origin.put(f"vod/s{i}", b"x" * 400)
    origin.delay = 0.01
    app = EdgeApp(make_cdn(origin, edge_bytes=1000), ("vod",), static_dir=None)

    async def main():
        await asyncio.gather(*(app.handle(Request("GET", "/vod/s0")) for _ in range(5)))
        for i in (1, 2):  # 3 x 400 bytes in a 1000-byte edge: s0 is evicted
            await app.handle(Request("GET", f"/vod/s{i}"))
        return (await app.handle(Request("GET", "/metrics"))).body.decode()

    text = asyncio.run(main())
    assert 'reelflow_cdn_coalesced_total{level="edge",tier="eu-1"} 4.0' in text
    assert 'reelflow_cdn_evictions_total{level="edge",tier="eu-1"} 1.0' in text


@pytest.mark.parametrize("head,status", [
    (b"GET / HTTP/1.1\r\nhost: x", None),
    (b"GET /\r\nhost: x", 400),
    (b"G(T / HTTP/1.1", 400),
    (b"GET / HTTP/2.0", 505),
    (b"GET / HTTP/1.1\r\nno colon here", 400),
    (b"GET / HTTP/1.1\r\n folded: header", 400),
    (b"GET / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2", 400),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1", 414),
])
def test_http1_request_heads(head, status):
    parsed = parse_http1_head(head)
    if status is None:
        assert parsed == ("GET", "/", "HTTP/1.1", {"host": "x"})
    else:
        assert parsed.status == status
