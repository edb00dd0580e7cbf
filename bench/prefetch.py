"""The next video's startup with and without prefetch hints, over HTTP/3 through the real edge at 50 ms RTT.

What runs: a private SeaweedFS S3 origin and the edge (``reelflow.edge.run_edge``) on loopback; one real
package (8 s, H.264 144p/240p/360p/480p + AAC, 2 s segments) published under ``--videos`` prefixes, so each
video of the feed is a different set of URLs; the Python player (``delivery.feed.play_feed``) reaching the
edge through the user-space network emulator (``delivery.netem``) with ``--rtt-ms`` of round trip and a
``--rate-kbps`` bottleneck each way.

Each round plays the same feed three ways, one after the other, each on a fresh QUIC connection with the
edge's cache already warm (the first pass fills it and is not counted):

- ``hints``: the player prefetches the next ``prefetch_depth`` videos from their cards' hints (every object of
  a start requested at once: one round trip);
- ``no hints``: the same prefetch discovering each start (master, then playlists, then init and segment);
- ``no prefetch``: nothing ahead of the swipe (three round trips and more at every swipe).

The viewer swipes after ``--watch-s`` of each video (a quick swiper leaves the prefetch little idle time).
Startup is from the swipe to the first video and audio segments in hand (the first frame can be decoded).
Hints are what the API puts on a card (``delivery.prefetch_hints.start_keys`` over the package's renditions).

    PYTHONPATH=. .venv/bin/python bench/prefetch.py [--videos 8] [--rounds 3] [--watch-s 1.0,3.0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.s3 import OriginConfig, OriginStore  # noqa: E402
from delivery.feed import FeedConfig, FeedReport, play_feed  # noqa: E402
from delivery.fetch import ConnectOptions  # noqa: E402
from delivery.netem import LinkConfig, start_relay  # noqa: E402
from delivery.player import PlayerConfig  # noqa: E402
from delivery.prefetch_hints import HintRung, StartHint, hint_urls, start_keys  # noqa: E402
from jobs.publish import publish_package  # noqa: E402
from media.ladder import LadderConfig  # noqa: E402
from media.package import package_hls  # noqa: E402
from media.probe import probe  # noqa: E402
from media.samples import make_clip  # noqa: E402
from reelflow.edge import run_edge  # noqa: E402
from reelflow.s3server import start_seaweed, stop_process_group, wait_ready  # noqa: E402

BUCKET = "vod"
MODES = ("hints", "no hints", "no prefetch")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EdgeThread:
    """The edge on its own event loop in a thread (the player's loop stays free of its work)."""

    def __init__(self, origin: OriginConfig, port: int, cert_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        ready = asyncio.Event()
        self.task = self.loop.create_task(run_edge(origin, buckets=(BUCKET,), hosts=("127.0.0.1",), port=port,
                                                   cert_dir=cert_dir, cache_bytes=200_000_000, ready=ready))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready.wait(), 20), self.loop).result(30)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def play(urls: list[str], hints: list[StartHint | None] | None, prefetch: bool, watch_s: float,
               options: ConnectOptions) -> FeedReport:
    return await play_feed(urls, config=PlayerConfig(watch_s=watch_s), feed=FeedConfig(prefetch=prefetch),
                           options=options, hints=hints)


async def through_relay(port: int, cafile: str, rtt_ms: float, rate_kbps: float, run):
    up = LinkConfig.from_path(rtt_ms=rtt_ms, rate_kbps=rate_kbps, seed=1)
    down = LinkConfig.from_path(rtt_ms=rtt_ms, rate_kbps=rate_kbps, seed=2)
    async with start_relay(("127.0.0.1", port), uplink=up, downlink=down) as relay:
        return await run(ConnectOptions(cafile=cafile, via={f"localhost:{port}": relay.address}))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--watch-s", default="1.0,3.0", help="seconds watched before each swipe, comma-separated")
    ap.add_argument("--rtt-ms", type=float, default=50.0)
    ap.add_argument("--rate-kbps", type=float, default=20_000.0, help="bottleneck each way")
    args = ap.parse_args()
    watches = [float(w) for w in args.watch_s.split(",")]

    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-prefetch-"))
    s3_port, edge_port = free_port(), free_port()
    key, secret = "bench-access", "bench-secret-key"
    endpoint = f"http://127.0.0.1:{s3_port}"
    s3 = start_seaweed(work / "s3", s3_port, key, secret, work / "s3.log")
    edge = None
    try:
        wait_ready(endpoint, s3, timeout_s=60)
        origin = OriginConfig(endpoint, key, secret)
        store = OriginStore(origin)
        store.ensure_buckets(BUCKET)
        src = make_clip(work / "src.mp4", width=854, height=480, seconds=8.0, audio=True)
        pkg = package_hls(src, work / "pkg", probe(src), ladder=LadderConfig(short_sides=(144, 240, 360, 480)),
                          codecs=("h264",), preset="ultrafast")
        rungs = [HintRung(r.kind, r.codecs, r.peak_bps, r.playlist) for r in pkg.summaries()]
        edge = EdgeThread(origin, edge_port, work / "certs")
        base = f"https://localhost:{edge_port}/{BUCKET}"
        urls, hints = [], []
        for i in range(args.videos):
            prefix = f"bench/v{i}"
            result = publish_package(store, pkg.directory, BUCKET, prefix)
            keys = start_keys(result.master_key, [HintRung(r.kind, r.codecs, r.bandwidth, f"{prefix}/{r.playlist_key}")
                                                  for r in rungs])
            assert keys is not None
            urls.append(f"{base}/{result.master_key}")
            hints.append(StartHint.from_card(hint_urls(keys, lambda k: f"{base}/{k}")))
        cafile = str(work / "certs" / "edge-cert.pem")
        print(f"{args.videos} videos (8 s, H.264 144p-480p + AAC), edge over SeaweedFS, RTT {args.rtt_ms:g} ms, "
              f"{args.rate_kbps / 1000:g} Mbit/s each way; hinted rung: {hints[0].rendition_url.split('/')[-2]}")

        def run(mode: str, watch: float) -> FeedReport:
            return asyncio.run(through_relay(edge_port, cafile, args.rtt_ms, args.rate_kbps, lambda o: play(
                urls, hints if mode == "hints" else None, mode != "no prefetch", watch, o)))

        run("no hints", watches[0])  # fills the edge's cache; not counted
        for watch in watches:
            got: dict[str, list[float]] = {m: [] for m in MODES}
            kinds: dict[str, list[str]] = {m: [] for m in MODES}
            for _ in range(args.rounds):
                for mode in MODES:
                    report = run(mode, watch)
                    got[mode] += [s.startup_s * 1000 for s in report.sessions[1:] if s.startup_s is not None]
                    kinds[mode] += [s.prefetch for s in report.sessions[1:]]
            print(f"\nswipe after {watch:g} s: next-video startup (swipe -> first video and audio segments), "
                  f"{args.rounds} rounds x {args.videos - 1} swipes")
            for mode in MODES:
                v = got[mode]
                full = kinds[mode].count("full")
                print(f"  {mode:12} p50 {statistics.median(v):7.1f} ms  p90 {pct(v, 0.9):7.1f} ms  "
                      f"max {max(v):7.1f} ms   starts fully prefetched {full}/{len(kinds[mode])}", flush=True)
        return 0
    finally:
        if edge is not None:
            edge.stop()
        stop_process_group(s3.pid)


if __name__ == "__main__":
    sys.exit(main())
