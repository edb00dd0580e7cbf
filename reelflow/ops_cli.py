"""CLI commands for operations: ``reprocess``, ``videos``, ``retry``, ``reladder``, ``gc``, ``tier`` and
``status``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from config.settings import Settings, get_settings
from media.codecs import CODEC_NAMES, UnknownCodec, parse_codecs


def _catalog_guard(fn: Callable[..., int]) -> Callable[..., int]:
    """An unreachable catalog is a one-line error, not a traceback."""
    def wrapped(*args, **kwargs) -> int:
        from sqlalchemy.exc import OperationalError

        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            print(f"error: the catalog database is unreachable ({exc.orig}); is the stack up?", file=sys.stderr)
            return 1
    return wrapped


def _airflow(settings: Settings):
    from config.clients import airflow_client

    return airflow_client(settings)


def _codecs(text: str | None) -> list[str] | None:
    if not text:
        return None
    try:
        return [c.value for c in parse_codecs(text)]
    except UnknownCodec as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


@_catalog_guard
def _reprocess(args: argparse.Namespace, settings: Settings | None = None, client=None) -> int:
    from adapters.airflow_api import PipelineUnavailable
    from catalog.videos import VideoNotFound
    from jobs.operations import get_video_row, trigger_reprocess

    settings = settings or get_settings()
    try:
        row = get_video_row(settings, args.video_id)
    except VideoNotFound:
        print(f"error: no video {args.video_id}", file=sys.stderr)
        return 1
    if args.inline:
        return _reprocess_inline(settings, args.video_id, args.codecs)
    client = client or _airflow(settings)
    try:
        run_id = trigger_reprocess(client, args.video_id, args.codecs)
    except PipelineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    note = " (its current publication keeps serving until the new one is ready)" if row.state == "ready" else ""
    print(f"video {args.video_id}: {row.state}{note}; Airflow run {run_id} of ingest_video")
    return 0


def _reprocess_inline(settings: Settings, video_id: str, codecs: list[str] | None) -> int:
    from datetime import UTC, datetime

    from jobs.ingest import run_inline

    run_id = f"inline__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    try:
        outcome = run_inline(settings, video_id, run_id, codecs)
    except Exception as exc:  # noqa: BLE001 - run_inline has marked the video; one line, not a traceback
        print(f"error: video {video_id}: processing failed ({type(exc).__name__}: {exc!s:.300})", file=sys.stderr)
        return 1
    print(f"video {video_id}: {outcome} (run {run_id}, in this process)")
    return 0 if outcome == "ready" else 1


@_catalog_guard
def _videos(args: argparse.Namespace, settings: Settings | None = None) -> int:
    from jobs.operations import failures_by_code, list_videos

    rows = list_videos(settings or get_settings(), state=args.state, code=args.code, limit=args.limit)
    for r in rows:
        when = r.updated.strftime("%Y-%m-%d %H:%M") if r.updated else "-"
        extra = f"{r.failure_code}: {r.failure_reason}" if r.failure_code else ",".join(r.codecs)
        state = f"{r.state} (serving the previous publication)" if r.state == "ready" and r.failure_code else r.state
        print(f"{r.id}  {state:10}  {when}  {extra}")
    if args.state == "failed":
        summary = ", ".join(f"{code} {n}" for code, n in failures_by_code(rows).most_common())
        print(f"{len(rows)} failed" + (f": {summary}" if summary else ""))
    return 0


@_catalog_guard
def _retry(args: argparse.Namespace, settings: Settings | None = None, client=None) -> int:
    from adapters.airflow_api import PipelineUnavailable
    from jobs.operations import RETRYABLE, retry_failed

    settings = settings or get_settings()
    codes = tuple(args.code) if args.code else RETRYABLE
    try:
        done = retry_failed(settings, client or (None if args.dry_run else _airflow(settings)), codes=codes,
                            dry_run=args.dry_run)
    except PipelineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for vid, run_id in done:
        print(f"{vid}  {'would retry' if args.dry_run else run_id}")
    print(f"{len(done)} failed video(s) with {', '.join(codes)} {'to retry' if args.dry_run else 'retried'}")
    return 0


@_catalog_guard
def _reladder(args: argparse.Namespace, settings: Settings | None = None, client=None) -> int:
    from adapters.airflow_api import PipelineUnavailable
    from jobs import reladder

    settings = settings or get_settings()
    given = {"created_after": args.created_after, "created_before": args.created_before, "creator": args.creator,
             "missing_codec": args.missing_codec, "codecs": args.codecs, "chunk_size": args.chunk_size,
             "max_in_flight": args.max_in_flight, "batch": args.batch}
    conf = {k: v for k, v in given.items() if v is not None}
    ids = reladder.matching_videos(settings, reladder.LadderFilter.from_params(conf, args.batch))
    done = f" (leaving out those batch {args.batch!r} already re-processed)" if args.batch else ""
    print(f"{len(ids)} ready video(s) match{done}")
    if not args.go:
        print("dry run: nothing triggered; add --go to re-process them")
        return 0
    if not ids:
        return 0
    try:
        run_id = (client or _airflow(settings)).trigger(reladder.RELADDER_DAG, {**conf, "dry_run": False},
                                                         run_id_prefix="reladder")
    except PipelineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Airflow run {run_id} of {reladder.RELADDER_DAG}: each video keeps serving until its new publication "
          "is switched in; the run's grid shows the chunks")
    return 0


def _iso_time(text: str) -> str:
    from datetime import datetime

    try:
        datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r} (e.g. 2026-11-01 or 2026-11-01T12:00)") \
            from exc
    return text


def _batch_name(text: str) -> str:
    import re

    from jobs.reladder import BATCH_NAME_PATTERN

    if not re.fullmatch(BATCH_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(f"batch names take letters, digits and _ . ~ + - only: {text!r}")
    return text


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return int(text)


@_catalog_guard
def _gc(args: argparse.Namespace) -> int:
    from jobs.operations import collect_superseded

    report = collect_superseded(get_settings(), grace_s=args.grace_s)
    for prefix, n in report.deleted.items():
        print(f"deleted {prefix}/ ({n} objects)")
    print(f"{len(report.deleted)} superseded or orphaned publication(s) deleted, {len(report.kept_in_grace)} still "
          f"in grace, {len(report.kept_running)} of runs not known to be over")
    return 0


@_catalog_guard
def _tier(args: argparse.Namespace) -> int:
    from jobs import tiering

    settings = get_settings()
    if args.action == "candidates":
        ids = tiering.cold_candidates(settings, days=args.days)
        print("\n".join(ids) + ("\n" if ids else "") + f"{len(ids)} video(s) unwatched for "
              f"{args.days or settings.cold_after_days} days")
    elif args.action == "freeze":
        ids = args.video_ids or tiering.cold_candidates(settings, days=args.days)
        for vid, n in tiering.freeze(settings, ids).moved.items():
            print(f"{vid}: {n} objects -> {settings.cold_bucket}")
    else:
        for vid in args.video_ids:
            print(f"{vid}: {tiering.restore(settings, vid)} objects -> {settings.vod_bucket}")
    return 0


def _section(title: str, body: Callable[[], list[str]]) -> list[str]:
    try:
        return [title, *body()]
    except Exception as exc:  # noqa: BLE001 - a status view shows what it can reach
        first = (str(exc).splitlines() or [""])[0]
        return [title, f"  unavailable: {type(exc).__name__}: {first:.150}"]


def status_lines(settings: Settings, *, stack=None, client=None, edge_metrics: str | None = None) -> list[str]:
    """The whole system in one screen: services, queue depth, videos, failures, CDN hit ratios, purges."""
    from catalog.db import session_scope
    from config.clients import sessions
    from jobs.operations import INGEST_DAG, pipeline_snapshot

    def services() -> list[str]:
        from reelflow.stack import Stack

        rows = (stack or Stack(settings, log=lambda _: None)).status()
        return [f"  {'up  ' if r.healthy else 'DOWN'}  {r.name:22} {r.url}" for r in rows]

    def queue() -> list[str]:
        c = client or _airflow(settings)
        return [f"  ingest_video runs: {c.count_runs(INGEST_DAG, ('queued',))} queued, "
                f"{c.count_runs(INGEST_DAG, ('running',))} running"]

    snap_box: list = []

    def catalog() -> list[str]:
        with session_scope(sessions(settings)) as s:
            snap_box.append(pipeline_snapshot(s))
        snap = snap_box[0]
        steps = ", ".join(f"{k} {sorted(v)[len(v) // 2]:.1f}s" for k, v in sorted(snap.step_seconds.items()))
        return ["  videos: " + ", ".join(f"{k} {n}" for k, n in sorted(snap.videos_by_state.items())),
                "  failures (24 h): " + (", ".join(f"{k} {n}" for k, n in sorted(snap.failures_24h.items()))
                                         or "none"),
                "  encoders: " + (", ".join(f"{k} {n}" for k, n in sorted(snap.encoders.items())) or "none"),
                "  step medians (24 h): " + (steps or "none"),
                f"  published: ~{snap.published_bytes_estimate / 2**20:.1f} MiB; pending purges {snap.pending_purges}"]

    def cdn() -> list[str]:
        text = edge_metrics
        if text is None:
            import httpx

            text = httpx.get(f"http://{settings.edge_host}:{settings.edge_port}/metrics", timeout=3).text
        return [f"  {level}: hit ratio {ratio:.1%} ({hits:.0f} hits, {misses:.0f} misses)"
                for level, (hits, misses, ratio) in cdn_hit_ratios(text).items()]

    return [*_section("services", services), *_section("pipeline queue", queue), *_section("catalog", catalog),
            *_section("CDN", cdn)]


def cdn_hit_ratios(metrics_text: str) -> dict[str, tuple[float, float, float]]:
    """{level: (hits, misses, hit ratio)} summed over tiers, from the edge's Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:  # by sample name: the family's name depends on the TYPE line's spelling
            if sample.name in ("reelflow_cdn_hits_total", "reelflow_cdn_misses_total"):
                pair = sums.setdefault(sample.labels.get("level", "?"), [0.0, 0.0])
                pair[sample.name == "reelflow_cdn_misses_total"] += sample.value
    return {lvl: (h, m, h / (h + m) if h + m else 0.0) for lvl, (h, m) in sums.items()}


def _status(args: argparse.Namespace) -> int:
    print("\n".join(status_lines(get_settings())))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser("reprocess", help="re-run ingest_video for one video (new params); the current "
                        "publication keeps serving until the new one is switched in")
    rp.add_argument("video_id")
    rp.add_argument("--codecs", type=_codecs, help="comma-separated: h264,hevc,av1 (default: the settings)")
    rp.add_argument("--inline", action="store_true",
                    help="run the pipeline in this process instead of Airflow (Airflow down; debugging one video)")
    rp.set_defaults(func=_reprocess)

    vd = sub.add_parser("videos", help="list videos (--state failed: with reasons)")
    vd.add_argument("--state", choices=["uploading", "processing", "playable", "ready", "failed"])
    vd.add_argument("--code", help="only this failure code")
    vd.add_argument("--limit", type=int, default=100)
    vd.set_defaults(func=_videos)

    rt = sub.add_parser("retry", help="re-trigger failed videos (default codes: processing_error, missing_upload)")
    rt.add_argument("--code", action="append", help="failure code to retry (repeatable)")
    rt.add_argument("--dry-run", action="store_true", help="list what would be retried")
    rt.set_defaults(func=_retry)

    rl = sub.add_parser("reladder", help="re-process many ready videos (DAG reladder_catalog): counts the "
                        "matches; --go triggers the batch")
    rl.add_argument("--created-after", type=_iso_time, help="ISO date/time, inclusive")
    rl.add_argument("--created-before", type=_iso_time, help="ISO date/time, exclusive")
    rl.add_argument("--creator", help="only this creator's videos (user id)")
    rl.add_argument("--missing-codec", choices=CODEC_NAMES, help="only videos without this codec")
    rl.add_argument("--codecs", type=_codecs, help="re-ladder with these (comma-separated; default: the settings)")
    rl.add_argument("--chunk-size", type=_positive, help="videos per grid cell (default 10)")
    rl.add_argument("--max-in-flight", type=_positive, help="the batch's ingest runs at once (default 4)")
    rl.add_argument("--batch", type=_batch_name, help="resume key: skips videos this batch already did")
    rl.add_argument("--go", action="store_true", help="trigger the batch (default: only count the matches)")
    rl.set_defaults(func=_reladder)

    gc = sub.add_parser("gc", help="delete publications superseded by re-runs, after the grace period")
    gc.add_argument("--grace-s", type=float, help="default: REELFLOW_SUPERSEDED_GRACE_S")
    gc.set_defaults(func=_gc)

    tr = sub.add_parser("tier", help="storage tiering: unwatched videos to the cold bucket and back")
    tr.add_argument("action", choices=["candidates", "freeze", "restore"])
    tr.add_argument("video_ids", nargs="*", metavar="VIDEO_ID", help="freeze: default the candidates")
    tr.add_argument("--days", type=int, help="unwatched for this many days (default REELFLOW_COLD_AFTER_DAYS)")
    tr.set_defaults(func=_tier)

    stt = sub.add_parser("status", help="the whole system: services, queue, videos, failures, CDN hit ratios")
    stt.set_defaults(func=_status)


def parse(argv: list[str]) -> argparse.Namespace:
    """Just these commands' parser (tests and scripts)."""
    p = argparse.ArgumentParser(prog="reelflow")
    add_commands(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)
