"""``reelflow``: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from config.settings import get_settings


def frame_size(text: str) -> tuple[int, int]:
    """``WxH`` with even sides from 16 to 4096, for argparse."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096) or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size sides must be even and between 16 and 4096, got {text!r}")
    return w, h


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds must be a number, got {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"seconds must be between 0 and 600, got {text!r}")
    return value


def _stack(args: argparse.Namespace) -> int:
    from reelflow.stack import Stack, StackError

    stack = Stack(get_settings())
    try:
        if args.action == "up":
            stack.up()
            _print_status(stack)
        elif args.action == "down":
            stopped = stack.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        else:
            return 0 if _print_status(stack) else 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_status(stack) -> bool:
    rows = stack.status()
    for r in rows:
        mark = "up  " if r.healthy else "DOWN"
        owner = r.detail or (f"pid {r.pid}" if r.managed else "external")
        print(f"  {mark}  {r.name:22} {r.url:45} {owner}")
    print(f"  state and logs: {stack.home}")
    print(f"  web app: {stack.app_url()}  (HTTP/3; docs/web.md: trusting the certificate in a browser)")
    return all(r.healthy for r in rows)


def _play(args: argparse.Namespace) -> int:
    from reelflow.play import run

    return run(args, get_settings())


def _edge(args: argparse.Namespace) -> int:
    from adapters.s3 import OriginConfig
    from reelflow.edge import run_edge

    s = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    hosts = (s.edge_host, "::1") if s.edge_host == "127.0.0.1" else (s.edge_host,)
    asyncio.run(run_edge(OriginConfig(s.s3_endpoint, s.s3_access_key, s.s3_secret_key, s.s3_region),
                         buckets=(s.vod_bucket,), hosts=hosts, port=s.edge_port, cert_dir=s.home / "certs",
                         cache_bytes=s.edge_cache_bytes, regional_cache_bytes=s.edge_regional_cache_bytes,
                         shield_cache_bytes=s.edge_shield_cache_bytes, default_region=s.edge_default_region,
                         policy=s.edge_cache_policy, edge_policy=s.edge_tier_policy,
                         cold_buckets={s.vod_bucket: s.cold_bucket},
                         admin_token=s.edge_admin_token or None, catalog_url=s.database_url,
                         playback_keys=s.playback_keys, api_upstream=s.edge_api_upstream or s.api_url))
    return 0


def _upload(args: argparse.Namespace) -> int:
    import httpx

    from reelflow.creator_client import ApiClientError, ReelflowClient
    from reelflow.progress import ProgressBar

    settings = get_settings()
    client = ReelflowClient(settings.api_url)
    bar = ProgressBar(Path(args.file).name)
    try:
        # The state under home/uploads lets the same command, run again after a dropped connection, resume.
        video = client.upload(Path(args.file), caption=args.caption, hashtags=args.hashtag,
                              state_dir=settings.home / "uploads", progress=bar)
        bar.close()
        print(f"video {video['id']}: {video['state']}")
        if args.wait:  # each stage as it happens, from the API's status stream
            for event in client.events(video["id"]):
                detail = event["detail"]
                said = detail.get("playback_url") or detail.get("reason") or detail.get("codec") or ""
                print(f"  {event['at'][11:19]} {event['kind']} {said}".rstrip())
            video = client.video(video["id"])
            print(f"video {video['id']}: {video['state']} {video.get('playback_url') or video.get('failure')}")
    except (ApiClientError, OSError, httpx.HTTPError, TimeoutError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if not args.wait or video["state"] == "ready" else 1


def _dedup(args: argparse.Namespace) -> int:
    import itertools
    import json

    from media.errors import MediaError
    from media.fingerprint import compare, fingerprint_file

    def fingerprints(paths: list[str]) -> dict[str, object] | None:
        out = {}
        for p in paths:
            try:
                out[p] = fingerprint_file(p)
            except (MediaError, OSError) as exc:
                print(f"error: {p}: {exc}", file=sys.stderr)
                return None
        return out

    if args.action == "pairs":
        if len(args.paths) < 2:
            print("error: dedup pairs needs at least two files", file=sys.stderr)
            return 2
        fps = fingerprints(args.paths)
        if fps is None:
            return 1
        for a, b in itertools.combinations(args.paths, 2):
            m = compare(fps[a], fps[b])
            if m.duplicate:
                if args.json:
                    print(json.dumps({"a": a, "b": b, "distance": m.distance, "duplicate": True,
                                      "mirrored": m.mirrored, "explanation": m.explain()}))
                else:
                    print(f"{a}  ~  {b}  ({m.explain()})")
        return 0
    return _dedup_check(args, fingerprints)


def _dedup_check(args: argparse.Namespace, fingerprints) -> int:
    import json

    from sqlalchemy.exc import OperationalError

    from catalog.db import session_scope
    from catalog.fingerprints import legacy_count, published_fingerprints
    from catalog.migrate import upgrade
    from config.clients import sessions
    from media.dedup_index import DedupIndex

    if len(args.paths) != 1:
        print("error: dedup check takes one file", file=sys.stderr)
        return 2
    fps = fingerprints(args.paths)
    if fps is None:
        return 1
    settings = get_settings()
    index = DedupIndex()
    try:
        upgrade(settings.database_url)  # idempotent: an older catalog gains the fingerprints table
        with session_scope(sessions(settings)) as s:
            for row in published_fingerprints(s, every_privacy=True):  # an operator's check
                index.add(row.video_id, row.fingerprint)
            legacy = legacy_count(s)
    except OperationalError as exc:
        print(f"error: the catalog database is unreachable ({exc.orig}); is the stack up?", file=sys.stderr)
        return 1
    hits = index.lookup(fps[args.paths[0]])
    for h in hits:
        if args.json:
            print(json.dumps({"path": args.paths[0], "video_id": h.video_id, "distance": h.match.distance,
                              "exact": h.match.exact, "duplicate": True, "mirrored": h.match.mirrored,
                              "explanation": h.match.explain()}))
        else:
            print(f"duplicate of video {h.video_id} ({h.match.explain()})")
    if not hits and not args.json:
        print(f"no published video among {len(index)} is a copy of {args.paths[0]}")
    if legacy:
        print(f"note: {legacy} stored fingerprints are from the first (pHash) engine and were not compared",
              file=sys.stderr)
    return 0


def _transcode(args: argparse.Namespace) -> int:
    import time

    from media.codecs import UnknownCodec, parse_codecs
    from media.errors import MediaError
    from media.limits import check_limits
    from media.package import package_hls
    from media.probe import probe
    from media.scan import scan

    settings = get_settings()
    try:
        codecs = parse_codecs(args.codecs) if args.codecs else tuple(settings.codecs)
    except UnknownCodec as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.outdir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "master.m3u8").exists())):
        print(f"error: {out} exists and is not an earlier Reelflow package; choose a new or empty directory",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        info = probe(args.src)
        check_limits(info, settings.upload_limits)
        result = scan(args.src, info, settings.upload_limits)
        package = package_hls(args.src, args.outdir, info, ladder=settings.ladder, codecs=codecs,
                              max_short_side=settings.codec_max_short_side, preset=settings.x264_preset,
                              crf=settings.x264_crf)
    except MediaError as exc:
        print(f"error: {args.src} rejected: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.src}: {info.width}x{info.height} rotation {info.rotation}, {info.duration_s:.1f} s, "
          f"{result.frames} frames decoded, {result.errors} errors{', VFR' if result.variable_frame_rate else ''}")
    for r in package.summaries():
        size = f"{r.width}x{r.height}" if r.kind == "video" else "stereo"
        print(f"  {r.name:12} {r.encoder:10} {r.codecs:20} {size:10} avg {r.average_bps / 1e6:6.2f} Mb/s  "
              f"peak {r.peak_bps / 1e6:6.2f} Mb/s")
    print(f"wrote {package.directory / package.master} ({package.total_bytes / 2**20:.1f} MiB) in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from media.samples import make_clip

    w, h = args.size
    print(make_clip(args.out, width=w, height=h, seconds=args.seconds, fps=args.fps, pattern=args.pattern))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from reelflow.demo import run_demo

    return run_demo(get_settings(), seconds=args.seconds, size=args.size, keep_running=not args.stop)


def _positive(cast):
    """argparse type: a number of type ``cast`` above 0."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value
    return parse


def _policy_list(text: str) -> tuple[str, ...]:
    from cdn_sim.simulate import parse_policies

    try:
        return parse_policies(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cdn(args: argparse.Namespace) -> int:
    import json

    from cdn_sim import simulate as sim
    from cdn_sim.simulate import MB, CacheSizes, describe, format_report, goal_report, simulate, size_sweep
    from cdn_sim.workload import generate, workload_config

    warmup_h = args.hours / 2 if args.warmup_hours is None else args.warmup_hours
    try:
        if not 0 <= warmup_h < args.hours:
            raise ValueError(f"--warmup-hours must be >= 0 and below --hours ({args.hours:g})")
        knobs: dict[str, object] = {"requests": args.requests, "videos": args.videos, "zipf_alpha": args.zipf,
                                    "duration_s": args.hours * 3600, "flash_crowd": args.flash_crowd, "seed": args.seed}
        if args.uploads is not None:
            knobs["uploads"] = args.uploads
            if args.uploads == 0:
                knobs["new_share"] = 0.0
        cfg = workload_config(args.workload, **knobs)
        # Each workload's sizes were fixed from its working sets before any policy ran on it.
        base = sim.SHORT_VIDEO_SIZES if args.workload == "short-video" else CacheSizes(2_000 * MB, 10_000 * MB,
                                                                                         16_000 * MB)
        sizes = CacheSizes(round(args.edge_mb * MB) if args.edge_mb else base.edge,
                           round(args.regional_mb * MB) if args.regional_mb else base.regional,
                           round(args.shield_mb * MB) if args.shield_mb else base.shield)
        if args.plot and not Path(args.plot).resolve().parent.is_dir():
            raise ValueError(f"--plot: directory {Path(args.plot).resolve().parent} does not exist")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warmup_s = warmup_h * 3600
    trace = generate(cfg)
    results = simulate(trace, args.policies, sizes, warmup_s=warmup_s)
    comparison = None
    if args.compare:
        from cdn_sim import libcachesim_ref

        theirs = libcachesim_ref.POLICIES if libcachesim_ref.available() else ()
        if not theirs:
            print(libcachesim_ref.INSTALL_HINT, file=sys.stderr)
        reference = sim.simulate_policy(trace, sim.LIVE_POLICY, sizes, warmup_s=warmup_s,
                                        edge_policy=sim.LIVE_EDGE_POLICY)
        comparison = sim.compare_tiers(trace, sizes, reference, ("lru", "sieve", "s3fifo", "vfreq", "belady"),
                                       theirs, warmup_s=warmup_s)
    prewarm = None
    if args.prewarm:
        from cdn_sim.prewarm import SimPrewarm, plan
        from cdn_sim.topology import default_topology

        pushes = plan(trace, default_topology(), SimPrewarm())
        prewarm = {label: sim.simulate_policy(trace, sim.LIVE_POLICY, sizes, warmup_s=warmup_s,
                                              edge_policy=sim.LIVE_EDGE_POLICY, pushes=p)
                   for label, p in (("without", None), ("with", pushes))}
        prewarm_videos = pushes.videos
    factors = (0.25, 0.5, 1.0, 2.0, 4.0)
    sweep = size_sweep(trace, args.policies, sizes, factors, warmup_s=warmup_s) if args.sweep else None
    if args.json:
        compared = None if comparison is None else {
            tier: {label: {"object_hit_ratio": r.object_hit_ratio, "byte_hit_ratio": r.byte_hit_ratio,
                           "requests": r.requests} for label, r in res.items()} for tier, res in comparison.items()}
        print(json.dumps({"workload": describe(trace, sizes, warmup_s), "goal": goal_report(results),
                          "comparison": compared,
                          "edge_goal": None if comparison is None else sim.edge_goal(comparison),
                          "prewarm": None if prewarm is None else {k: r.to_dict() for k, r in prewarm.items()},
                          "results": {p: r.to_dict() for p, r in results.items()},
                          "sweep": None if sweep is None else {"factors": factors, "edge_regional_hit_ratio": sweep}}))
    else:
        print(format_report(trace, sizes, warmup_s, results))
        if comparison is not None:
            print("\nper tier, every policy on the stream the live chain (edge " + sim.LIVE_EDGE_POLICY + ", above it "
                  + sim.LIVE_POLICY + ") gives that tier, at equal capacity:")
            print(sim.format_comparison(comparison))
        if prewarm is not None:
            print(f"\npre-warming (live chain; {prewarm_videos} video pushes to the POPs of the regions where they "
                  "rose, counted after the warm-up):")
            print(sim.format_prewarm(prewarm))
        if sweep is not None:
            print("\nedge+regional hit ratio with every cache scaled by " + ", ".join(f"{f:g}x" for f in factors))
            for policy, values in sweep.items():
                print(f"  {policy:8} " + " ".join(f"{v:6.1%}" for v in values))
    if args.plot:
        from cdn_sim.plot import write_plot

        path = write_plot(results, args.plot, trace=trace, warmup_s=warmup_s, sweep=sweep, sweep_factors=factors)
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reelflow", description="Reelflow short-video back end")
    sub = p.add_subparsers(dest="command", required=True)

    st = sub.add_parser("stack", help="run the local stack")
    st.add_argument("action", choices=["up", "down", "status"])
    st.set_defaults(func=_stack)

    d = sub.add_parser("demo", help="stack up, upload two clips, follow the DAG runs, play one over HTTP/3")
    d.add_argument("--seconds", type=positive_seconds, default=8.0, help="length of the generated clips")
    d.add_argument("--size", type=frame_size, default=(1280, 720),
                   help="landscape clip size WxH (the portrait clip is its transpose)")
    d.add_argument("--stop", action="store_true", help="stop the stack afterwards")
    d.set_defaults(func=_demo)

    pl = sub.add_parser("play", help="play over HTTP/3: the start-up probe, a full ABR session (--full, --watch-s) "
                        "or a feed of several URLs with prefetch; --rtt-ms/--loss/--rate-kbps emulate the network")
    from reelflow.play import add_arguments as add_play_arguments

    add_play_arguments(pl)
    pl.set_defaults(func=_play)

    up = sub.add_parser("upload", help="upload a file through the API (large files in parts, with a progress bar; "
                        "run it again after an interruption to resume)")
    up.add_argument("file")
    up.add_argument("--caption", default="")
    up.add_argument("--hashtag", action="append", default=[])
    up.add_argument("--wait", action="store_true", help="wait until it is ready or failed")
    up.set_defaults(func=_upload)

    sa = sub.add_parser("sample", help="write a synthetic test clip (lavfi)")
    sa.add_argument("out")
    sa.add_argument("--size", type=frame_size, default=(1920, 1080))
    sa.add_argument("--seconds", type=positive_seconds, default=20.0)
    sa.add_argument("--fps", type=int, default=30)
    sa.add_argument("--pattern", default="testsrc2")
    sa.set_defaults(func=_sample)

    tc = sub.add_parser("transcode", help="validate and package one file locally, without the stack")
    tc.add_argument("src")
    tc.add_argument("outdir")
    tc.add_argument("--codecs", help="comma-separated: h264,hevc,av1 (default: the settings)")
    tc.set_defaults(func=_transcode)

    dd = sub.add_parser("dedup", help="perceptual duplicate detection for content teams")
    dd.add_argument("action", choices=["pairs", "check"],
                    help="pairs: every duplicate pair among PATHs; check: PATH against the published catalog")
    dd.add_argument("paths", nargs="+", metavar="PATH")
    dd.add_argument("--json", action="store_true", help="one JSON object per line")
    dd.set_defaults(func=_dedup)

    ed = sub.add_parser("edge", help="edge server (the stack runs it)")
    ed.add_argument("action", choices=["serve"])
    ed.set_defaults(func=_edge)

    cdn = sub.add_parser("cdn", help="CDN tools: the trace-driven cache simulator")
    cdn_sub = cdn.add_subparsers(dest="cdn_command", required=True)
    cs = cdn_sub.add_parser("simulate", help="edge POPs -> regional -> shield -> origin over a synthetic trace; "
                            "per-tier hit ratios per eviction policy, with Belady's MIN as reference")
    cs.add_argument("--policies", type=_policy_list, default=("lru", "sieve", "s3fifo", "vfreq", "belady"),
                    help="comma-separated: lru,sieve,s3fifo,vfreq,belady (default: all)")
    cs.add_argument("--workload", choices=("default", "short-video"), default="default",
                    help="short-video: most objects requested once, uploads rise and fade within hours "
                    "(its own cache sizes: 3400/16000/46000 MB)")
    cs.add_argument("--compare", action="store_true", help="per tier, this project's policies beside libCacheSim's "
                    "(W-TinyLFU, ARC, LHD, GDSF, ...) and size-aware Belady on the same streams (about 2 minutes)")
    cs.add_argument("--prewarm", action="store_true", help="the live chain with and without pre-warming (the "
                    "prewarm_edges DAG's picker every 10 minutes): origin egress and edge hit ratios")
    cs.add_argument("--zipf", type=_positive(float), default=0.9, help="popularity skew alpha (default 0.9)")
    cs.add_argument("--videos", type=_positive(int), default=500, help="back catalog (default 500)")
    cs.add_argument("--uploads", type=int, help="new videos during the trace (default 250; short-video 30000)")
    cs.add_argument("--requests", type=_positive(int), default=2_000_000, help="about this many (default 2000000)")
    cs.add_argument("--hours", type=_positive(float), default=48.0, help="trace length (default 48)")
    cs.add_argument("--warmup-hours", type=float, help="only warm the caches (default: the first half)")
    cs.add_argument("--seed", type=int, default=1)
    cs.add_argument("--edge-mb", type=_positive(float), help="per POP (default 2000)")
    cs.add_argument("--regional-mb", type=_positive(float), help="per region (default 10000)")
    cs.add_argument("--shield-mb", type=_positive(float), help="the origin shield (default 16000)")
    cs.add_argument("--flash-crowd", action="store_true", help="one new video goes viral 3/4 of the way through "
                    "(mid measured day) and draws 5%% of views")
    cs.add_argument("--sweep", action="store_true", help="also scale every cache 0.25x-4x (five more runs)")
    cs.add_argument("--plot", metavar="PNG", help="write a figure")
    cs.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    cs.set_defaults(func=_cdn)

    rec = sub.add_parser("recommend", help="recommendation models: offline evaluation")
    rec_sub = rec.add_subparsers(dest="recommend_command", required=True)
    rev = rec_sub.add_parser("evaluate", help="recall@50/100, NDCG@50 and s/epoch on MovieLens-100K (time split): "
                             "popularity, random, two-tower")
    for flag, typ in (("--epochs", int), ("--batch-size", int), ("--dim", int), ("--temperature", float),
                      ("--history", int), ("--lr", float), ("--test-fraction", float), ("--data", str)):
        rev.add_argument(flag, type=typ, help="see python -m recommend.evaluate --help")

    def _recommend_evaluate(a: argparse.Namespace) -> int:
        from recommend.evaluate import main as evaluate_main  # TensorFlow: imported only for this command

        argv = []
        for key in ("epochs", "batch_size", "dim", "temperature", "history", "lr", "test_fraction", "data"):
            if getattr(a, key) is not None:
                argv += ["--" + key.replace("_", "-"), str(getattr(a, key))]
        return evaluate_main(argv)

    rev.set_defaults(func=_recommend_evaluate)

    from reelflow.feed_cli import add_commands as add_feed_commands

    add_feed_commands(sub)  # token, user, counters, purge
    from reelflow.ops_cli import add_commands as add_ops_commands

    add_ops_commands(sub)  # reprocess, videos, retry, reladder, gc, tier, status
    from reelflow.prohibited_cli import add_commands as add_prohibited_commands

    add_prohibited_commands(sub)  # prohibited add|list|remove
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
