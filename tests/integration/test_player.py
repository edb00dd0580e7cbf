"""The player over real aioquic, through the user-space network emulator, against the real edge and S3 origin.

One real package (8 s, H.264 at 144p/240p/360p + AAC, 2 s segments) is built once, published under four
prefixes (a feed of four videos) next to a few hostile objects, and served by the edge over SeaweedFS.
Playback runs sped up (``speed``) so the module stays quick; startup times are wall times and not scaled.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.s3 import OriginConfig
from delivery.feed import FeedConfig, FeedReport, play_feed
from delivery.fetch import ConnectOptions
from delivery.netem import LinkConfig, RelayStats, start_relay
from delivery.player import PlaybackError, PlayerConfig, play_session, play_startup
from jobs.publish import publish_package
from media.ladder import LadderConfig
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip
from reelflow.edge import run_edge
from tests.background import serving_in_thread
from tests.conftest import RUN_TAG, free_port

RTT_MS = 50


@pytest.fixture(scope="module")
def edge(settings, store, tmp_path_factory):
    port = free_port()
    cert_dir = tmp_path_factory.mktemp("player-certs")
    origin = OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    with serving_in_thread(lambda ready: run_edge(origin, buckets=(settings.vod_bucket,), hosts=("127.0.0.1",),
                                                  port=port, cert_dir=cert_dir, cache_bytes=100_000_000,
                                                  ready=ready)):
        yield {"port": port, "cafile": str(cert_dir / "edge-cert.pem"), "base": f"https://localhost:{port}/vod"}


@pytest.fixture(scope="module")
def hls(settings, store, edge, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("player-pkg")
    src = make_clip(work / "src.mp4", width=640, height=360, seconds=8.0, audio=True)
    pkg = package_hls(src, work / "pkg", probe(src), ladder=LadderConfig(short_sides=(144, 240, 360)),
                      codecs=("h264",), preset="ultrafast")
    root = f"player-{RUN_TAG}"
    urls = []
    for i in range(4):
        result = publish_package(store, pkg.directory, settings.vod_bucket, f"{root}/v{i}")
        urls.append(f"{edge['base']}/{result.master_key}")

    def put(key: str, body: bytes) -> str:
        store.put_bytes(settings.vod_bucket, f"{root}/{key}", body, content_type="application/vnd.apple.mpegurl",
                        cache_control="public, max-age=60")
        return f"{edge['base']}/{root}/{key}"

    hostile = {
        "dolby_only": put("dolby/master.m3u8", b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,'
                                               b'CODECS="dvh1.05.06,ec-3"\nv/index.m3u8\n'),
        "empty_playlist": put("empty/master.m3u8", b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000,'
                                                   b'CODECS="avc1.42C01E"\nv/index.m3u8\n'),
        "garbage": put("garbage/master.m3u8", bytes(range(256)) * 4),
        "media_as_master": urls[0].replace("master.m3u8", "h264/144p/index.m3u8"),
        "missing": f"{edge['base']}/{root}/nothing/master.m3u8",
    }
    put("empty/v/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-ENDLIST\n")
    rungs = sorted(p.stream_info.bandwidth for p in __import__("m3u8").load(str(pkg.directory / pkg.master)).playlists)
    return {"urls": urls, "hostile": hostile, "rungs": rungs}


async def _through_relay(edge: dict, play, *, rtt_ms: float = RTT_MS, loss: float = 0.0,
                         rate_kbps: float | None = None):
    """Run ``play(options)`` with the player reaching the edge through an emulated path."""
    up = LinkConfig.from_path(rtt_ms=rtt_ms, loss=loss, rate_kbps=rate_kbps, seed=11)
    down = LinkConfig.from_path(rtt_ms=rtt_ms, loss=loss, rate_kbps=rate_kbps, seed=12)
    async with start_relay(("127.0.0.1", edge["port"]), uplink=up, downlink=down) as relay:
        options = ConnectOptions(cafile=edge["cafile"], via={f"localhost:{edge['port']}": relay.address})
        return await play(options), relay.stats


def _feed(edge: dict, urls: list[str], prefetch: bool) -> tuple[FeedReport, RelayStats]:
    config = PlayerConfig(watch_s=4.0, speed=3.0)  # the viewer swipes after 4 s of each 8 s video
    return asyncio.run(_through_relay(edge, lambda o: play_feed(urls, config=config, options=o,
                                                                feed=FeedConfig(prefetch=prefetch))))


def test_a_prefetched_next_video_starts_under_200_ms_at_50_ms_rtt_and_a_cold_one_does_not(edge, hls):
    warm, warm_stats = _feed(edge, hls["urls"], prefetch=True)
    cold, cold_stats = _feed(edge, hls["urls"], prefetch=False)
    for name, report in (("prefetch", warm), ("no prefetch", cold)):
        print(f"\n{name}, RTT {RTT_MS} ms:\n" + "\n".join(report.lines()))

    assert warm_stats.clients == 1 and cold_stats.clients == 1  # the whole feed over one QUIC connection
    for report in (warm, cold):
        assert [s.ended for s in report.sessions] == ["watch limit"] * 4
        assert all(s.rebuffer_count == 0 for s in report.sessions)
    nexts = warm.sessions[1:]
    assert [s.prefetch for s in nexts] == ["full"] * 3
    assert max(s.startup_s for s in nexts) < 0.200
    cold_nexts = cold.sessions[1:]
    assert [s.prefetch for s in cold_nexts] == ["none"] * 3
    # master, then playlists, then init + segment: at least two round trips more than a cached start
    assert min(s.startup_s for s in cold_nexts) >= 2 * RTT_MS / 1000
    assert min(s.startup_s for s in cold_nexts) > max(s.startup_s for s in nexts)
    # The very first video has nothing to be prefetched from: it pays the handshake too.
    assert warm.sessions[0].prefetch == "none" and warm.sessions[0].startup_s >= 3 * RTT_MS / 1000
    assert warm.prefetched_bytes > 0 and warm.wasted_bytes < warm.prefetched_bytes


def _session(edge: dict, url: str, *, rate_kbps: float | None = None, loss: float = 0.0):
    config = PlayerConfig(speed=2.0, start_bitrate=4_000_000)
    return asyncio.run(_through_relay(edge, lambda o: play_session(url, config=config, options=o),
                                      rtt_ms=40, rate_kbps=rate_kbps, loss=loss))


def test_a_tight_rate_limit_makes_the_abr_choose_a_lower_rung(edge, hls):
    free, _ = _session(edge, hls["urls"][1])
    tight, stats = _session(edge, hls["urls"][1], rate_kbps=1200)  # at speed 2: 600 kbit/s per media second
    for name, r in (("unlimited", free), ("1200 kbit/s", tight)):
        print(f"\n{name}: rungs {r.video_rungs} of {r.rungs}\n  {r.summary()}")
    assert free.ended == tight.ended == "end"
    assert free.video_rungs[-1] == 2  # the top rung once the link is measured
    assert tight.video_rungs[-1] == 0  # the leanest rung is all 600 kbit/s carries
    assert tight.mean_bitrate_bps < free.mean_bitrate_bps
    assert tight.switches >= 1  # it started too high on the 4 Mbit/s guess and came down
    assert stats.downlink.bytes_delivered > 0


def test_playback_completes_with_2_percent_loss(edge, hls):
    report, stats = _session(edge, hls["urls"][2], loss=0.02)
    print(f"\n2% loss each way: {report.summary()}; lost {stats.uplink.lost} up, {stats.downlink.lost} down")
    assert report.ended == "end" and report.played_s == pytest.approx(8.0)
    assert [s.index for s in report.segments if s.track == "video"] == [0, 1, 2, 3]
    assert stats.downlink.lost + stats.uplink.lost > 0


def test_startup_probe_through_the_relay(edge, hls):
    async def probe_(options: ConnectOptions):
        relay = options.via[f"localhost:{edge['port']}"]
        return await play_startup(hls["urls"][3], cafile=edge["cafile"], address=relay)

    report, _ = asyncio.run(_through_relay(edge, probe_))
    assert report.segments_fetched == 4 and report.codecs.startswith("avc1.")
    assert report.startup_s >= 3 * RTT_MS / 1000  # handshake, master, playlist, init, segment


@pytest.mark.parametrize("case,problem", [
    ("dolby_only", "no playable variant: the master offers CODECS dvh1.05.06,ec-3"),
    ("empty_playlist", "lists no segments"),
    ("garbage", "not a playlist"),
    ("media_as_master", "is a media playlist, not a master playlist"),
    ("missing", "answered 404"),
])
def test_hostile_inputs_give_clear_errors(edge, hls, case, problem):
    options = ConnectOptions(cafile=edge["cafile"])
    with pytest.raises(PlaybackError, match=problem):
        asyncio.run(play_session(hls["hostile"][case], options=options))


def test_codecs_the_player_lacks_and_bad_urls_are_clear_errors(edge, hls):
    options = ConnectOptions(cafile=edge["cafile"], connect_timeout_s=1.0)
    av1_only = PlayerConfig(supported_codecs=frozenset({"av01", "mp4a"}))
    with pytest.raises(PlaybackError, match=r"CODECS avc1\.42C00C,mp4a\.40\.2.*decodes av01, mp4a"):
        asyncio.run(play_session(hls["urls"][0], config=av1_only, options=options))
    with pytest.raises(PlaybackError, match="https://"):
        asyncio.run(play_session(hls["urls"][0].replace("https://", "http://"), options=options))
    silent = f"https://localhost:{free_port()}/vod/x/master.m3u8"
    with pytest.raises(PlaybackError, match="cannot open HTTP/3"):
        asyncio.run(play_session(silent, options=options))
    with pytest.raises(PlaybackError, match="empty"):
        asyncio.run(play_feed([], options=options))


def test_cli_plays_a_feed_through_an_emulated_network(edge, hls, capsys):
    from reelflow.cli import main

    rc = main(["play", *hls["urls"][:2], "--watch-s", "2", "--speed", "4", "--rtt-ms", "50",
               "--cafile", edge["cafile"]])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "emulated path to localhost" in out and "video 2: startup" in out
    assert "next-video startup" in out  # prefetched in full or not, depending on how quick 0.5 s was


def test_the_prefetch_budget_bounds_what_is_fetched_ahead(edge, hls):
    config = PlayerConfig(watch_s=2.0, speed=4.0)
    tiny = FeedConfig(prefetch_budget_bytes=0)  # playlists only: no segment fits

    report, _ = asyncio.run(_through_relay(edge, lambda o: play_feed(hls["urls"][:2], config=config, feed=tiny,
                                                                     options=o)))
    print("\nzero prefetch budget:\n" + "\n".join(report.lines()))
    nxt = report.sessions[1]
    assert nxt.prefetch == "partial"  # master and playlists were ready, the segments were not
    assert report.prefetched_bytes < 5_000
    # One round trip (init + first segments) instead of three or more.
    assert RTT_MS / 1000 <= nxt.startup_s < report.sessions[0].startup_s
