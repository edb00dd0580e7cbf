"""``reelflow play``: the start-up probe, a full ABR session, or a feed with prefetch, optionally through
an emulated network (a UDP relay started in this process).

- ``reelflow play URL``: master, a variant, init and first segments; the start-up time (as before).
- ``reelflow play URL --full`` or ``--watch-s S``: a playback session with ABR and a buffer.
- ``reelflow play URL URL ...``: a feed: each video to ``--watch-s`` (the swipe) or its end, the next
  ones prefetched (``--no-prefetch`` to compare).
- ``--rtt-ms``, ``--loss``, ``--rate-kbps``, ``--jitter-ms``: the path to the edge, emulated in user space.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

from config.settings import Settings


def _number(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if (value <= lo if lo_open else value < lo) or (value >= hi if hi_open else value > hi):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo:g} and "
                                             f"{'<' if hi_open else '<='} {hi:g}, got {text!r}")
        return value
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("urls", nargs="+", metavar="URL", help="master playlist(s); several URLs play as a feed")
    p.add_argument("--segments", type=int, default=2, help="start-up probe: segments per track")
    p.add_argument("--start-bitrate", type=int, default=None,
                   help="throughput guess before measuring, bit/s (probe default 3000000, sessions 1000000)")
    p.add_argument("--cafile", help="PEM to trust (default: the local edge's certificate)")
    p.add_argument("--insecure", action="store_true", help="do not verify the edge certificate")
    s = p.add_argument_group("playback session and feed")
    s.add_argument("--full", action="store_true", help="play the video with ABR, not just its start")
    s.add_argument("--watch-s", type=_number(0, 3600, lo_open=True),
                   help="seconds watched before swiping (implies --full); default: to the end")
    s.add_argument("--speed", type=_number(0, 100, lo_open=True), default=1.0,
                   help="playback speed-up for quick runs; the network then looks SPEED times slower")
    s.add_argument("--max-buffer-s", type=_number(0, 120, lo_open=True), default=8.0)
    s.add_argument("--codecs", help="codes the player decodes, e.g. avc1,mp4a (default avc1,avc3,hvc1,hev1,av01,mp4a)")
    s.add_argument("--no-prefetch", action="store_true", help="feed: do not prefetch the next videos")
    s.add_argument("--prefetch-depth", type=int, choices=range(0, 6), default=2, metavar="N")
    s.add_argument("--prefetch-segments", type=int, choices=range(0, 6), default=1, metavar="N")
    s.add_argument("-v", "--verbose", action="store_true", help="print every segment of every session")
    n = p.add_argument_group("emulated network (a UDP relay in front of the edge)")
    n.add_argument("--rtt-ms", type=_number(0, 10_000), default=0.0)
    n.add_argument("--jitter-ms", type=_number(0, 1_000), default=0.0)
    n.add_argument("--loss", type=_number(0, 1, hi_open=True), default=0.0, help="per direction, e.g. 0.02")
    n.add_argument("--rate-kbps", type=_number(0, 10_000_000, lo_open=True), default=None,
                   help="rate limit per direction, kbit/s")
    n.add_argument("--seed", type=int, default=0, help="seed of the emulated loss and jitter")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from delivery.fetch import PlaybackError

    cafile = args.cafile or str(settings.home / "certs" / "edge-cert.pem")
    if not Path(cafile).exists() and not args.insecure:
        print(f"error: no CA file at {cafile}; pass --cafile or --insecure", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, None if args.insecure else cafile))
    except (PlaybackError, ConnectionError, TimeoutError, OSError, ValueError) as exc:
        print(f"error: playback failed: {exc}", file=sys.stderr)
        return 1


def _emulating(args: argparse.Namespace) -> bool:
    return bool(args.rtt_ms or args.loss or args.rate_kbps or args.jitter_ms)


async def _run(args: argparse.Namespace, cafile: str | None) -> int:
    from delivery.netem import LinkConfig, start_relay

    via: dict[str, tuple[str, int]] = {}
    async with AsyncExitStack() as stack:
        if _emulating(args):
            for authority in dict.fromkeys(urlsplit(u).netloc for u in args.urls):
                parts = urlsplit(f"https://{authority}")
                if not parts.hostname:
                    raise ValueError(f"no host in {authority!r}")
                path = {"rtt_ms": args.rtt_ms, "loss": args.loss, "rate_kbps": args.rate_kbps,
                        "jitter_ms": args.jitter_ms}
                relay = await stack.enter_async_context(start_relay(
                    (parts.hostname, parts.port or 443), uplink=LinkConfig.from_path(**path, seed=args.seed),
                    downlink=LinkConfig.from_path(**path, seed=args.seed + 1)))
                via[authority] = relay.address
                rate = f", {args.rate_kbps:g} kbit/s" if args.rate_kbps else ""
                print(f"emulated path to {authority}: RTT {args.rtt_ms:g} ms, loss {args.loss:.1%}{rate}, "
                      f"jitter {args.jitter_ms:g} ms (relay on port {relay.port})")
        if len(args.urls) == 1 and not (args.full or args.watch_s):
            return await _startup(args, cafile, via)
        return await _sessions(args, cafile, via)


async def _startup(args: argparse.Namespace, cafile: str | None, via: dict[str, tuple[str, int]]) -> int:
    from delivery.player import SUPPORTED_CODECS, play_startup

    url = args.urls[0]
    report = await play_startup(url, segments=args.segments, start_bitrate=args.start_bitrate or 3_000_000,
                                cafile=cafile, verify=cafile is not None,
                                supported=_codecs(args) or SUPPORTED_CODECS, address=via.get(urlsplit(url).netloc))
    for path, size, secs in report.requests:
        print(f"  {secs * 1000:7.1f} ms  {size:9d} B  {path}")
    print(report.summary())
    return 0


def _codecs(args: argparse.Namespace) -> frozenset[str] | None:
    return frozenset(c.strip().lower() for c in args.codecs.split(",") if c.strip()) if args.codecs else None


async def _sessions(args: argparse.Namespace, cafile: str | None, via: dict[str, tuple[str, int]]) -> int:
    from delivery.feed import FeedConfig, play_feed
    from delivery.fetch import ConnectOptions
    from delivery.player import SUPPORTED_CODECS, PlayerConfig

    config = PlayerConfig(watch_s=args.watch_s, speed=args.speed, max_buffer_s=args.max_buffer_s,
                          start_bitrate=args.start_bitrate or 1_000_000,
                          supported_codecs=_codecs(args) or SUPPORTED_CODECS)
    feed = FeedConfig(prefetch=not args.no_prefetch, prefetch_depth=args.prefetch_depth,
                      prefetch_segments=args.prefetch_segments)
    options = ConnectOptions(cafile=cafile, verify=cafile is not None, via=via)
    report = await play_feed(args.urls, config=config, feed=feed, options=options)
    for i, session in enumerate(report.sessions):
        if args.verbose or len(report.sessions) == 1:
            print(f"video {i + 1}: {session.url}")
            print("  rungs: " + "; ".join(f"{j}: {r}" for j, r in enumerate(session.rungs)))
            for line in session.segment_lines():
                print(line)
    for line in report.lines() if len(report.sessions) > 1 else [report.sessions[0].summary()]:
        print(line)
    return 0
