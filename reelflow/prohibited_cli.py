"""CLI of the prohibited-media list: what no upload may match (ingest rejects a match as ``prohibited``).

``reelflow prohibited add FILE --reason R``, ``reelflow prohibited add --video ID --reason R`` (a video's
stored fingerprint, e.g. after a takedown), ``reelflow prohibited list``, ``reelflow prohibited remove ID``.
Registered by :func:`add_commands` from ``reelflow.cli``.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from config.settings import get_settings


def _prohibited(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from catalog import prohibited_media
    from catalog.db import session_scope
    from catalog.migrate import upgrade
    from config.clients import sessions
    from media.errors import MediaError
    from media.fingerprint import fingerprint_file

    settings = get_settings()
    operator = f"cli:{getpass.getuser()}"
    try:
        upgrade(settings.database_url)  # idempotent: an older catalog gains the table
        with session_scope(sessions(settings)) as s:
            if args.action == "list":
                for e in prohibited_media.entries(s):
                    origin = f"video {e.source_video_id}" if e.source_video_id else f"sha256 {e.sha256[:12]}"
                    frames = "legacy" if e.fingerprint is None else f"{len(e.fingerprint):3} frames"
                    print(f"{e.id:6}  {e.created_at:%Y-%m-%d %H:%M}  {frames:>10}  {origin:24}  "
                          f"{e.added_by}: {e.reason}")
                return 0
            if args.action == "remove":
                if args.target is None or not args.target.isdigit():
                    print("error: prohibited remove takes an entry id (see prohibited list)", file=sys.stderr)
                    return 2
                if not prohibited_media.remove(s, int(args.target)):
                    print(f"error: no entry {args.target}", file=sys.stderr)
                    return 1
                print(f"removed entry {args.target}")
                return 0
            if not args.reason:
                print("error: prohibited add needs --reason", file=sys.stderr)
                return 2
            if args.video:
                entry = prohibited_media.add_video(s, args.video, reason=args.reason, added_by=operator)
            elif args.target:
                fp = fingerprint_file(args.target).reference()  # stored as the dedup references are
                entry = prohibited_media.add(s, fingerprint=fp, reason=args.reason, added_by=operator)
            else:
                print("error: prohibited add takes a FILE or --video ID", file=sys.stderr)
                return 2
    except OperationalError as exc:
        print(f"error: the catalog database is unreachable ({exc.orig}); is the stack up?", file=sys.stderr)
        return 1
    except (MediaError, OSError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"entry {entry}: uploads matching it are now rejected as prohibited")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("prohibited", help="the prohibited-media list: uploads matching an entry (re-encoded, "
                        "cropped or not) are rejected at ingest")
    pr.add_argument("action", choices=["add", "list", "remove"])
    pr.add_argument("target", nargs="?", help="add: a media FILE; remove: an entry id")
    pr.add_argument("--video", help="add: the stored fingerprint of this video id")
    pr.add_argument("--reason", help="add: why (for moderators; never shown to uploaders)")
    pr.set_defaults(func=_prohibited)
