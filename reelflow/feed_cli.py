"""CLI commands of the feed API: tokens, users, the counter flush and the delete outbox.

``reelflow token USER_ID``, ``reelflow user create HANDLE``, ``reelflow user role HANDLE ROLE``,
``reelflow counters flush``,
``reelflow purge retry|list``. Registered by :func:`add_commands` from ``reelflow.cli``.
"""

from __future__ import annotations

import argparse
import sys

from catalog.models import Role
from config.settings import get_settings


def _token(args: argparse.Namespace) -> int:
    from feed_api.tokens import TokenSigner
    from reelflow.stack import local_api_secret

    s = get_settings()
    print(TokenSigner(local_api_secret(s), s.token_ttl_s).issue(args.user_id, ttl_s=args.ttl))
    return 0


def _user(args: argparse.Namespace) -> int:
    from catalog import users
    from catalog.db import session_scope
    from config.clients import sessions
    from feed_api.tokens import TokenSigner
    from reelflow.stack import local_api_secret

    s = get_settings()
    try:
        with session_scope(sessions(s)) as db:
            user = users.create_user(db, handle=args.handle, region=args.region, interests=args.interest)
            uid = user.id
    except users.HandleTaken as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user {uid} ({args.handle.lower()})")
    print(TokenSigner(local_api_secret(s), s.token_ttl_s).issue(uid))
    return 0


def _user_role(args: argparse.Namespace) -> int:
    """Give a user a role (moderator: the review queue and moderation actions), the ops way to make one."""
    from catalog import moderation
    from catalog.db import session_scope
    from config.clients import sessions

    with session_scope(sessions(get_settings())) as db:
        user = moderation.set_role(db, args.handle, args.role)
        uid = user.id if user is not None else None
    if uid is None:
        print(f"error: no user with the handle {args.handle.lower()!r}", file=sys.stderr)
        return 1
    print(f"user {uid} ({args.handle.lower()}) is now {args.role}")
    return 0


def _counters(args: argparse.Namespace) -> int:
    import redis

    from adapters.live_store import Keys, flush_counters
    from catalog.db import session_scope
    from config.clients import sessions

    s = get_settings()
    r = redis.Redis.from_url(s.redis_url, decode_responses=True)
    try:
        n = flush_counters(r, Keys(s.redis_prefix), lambda: session_scope(sessions(s)))
    except redis.RedisError as exc:
        print(f"error: Redis at {s.redis_url} is unreachable: {exc}", file=sys.stderr)
        return 1
    print(f"flushed the counters of {n} videos into PostgreSQL")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from config.clients import edge_purger, origin_store, sessions
    from jobs import purge

    s = get_settings()
    if args.action == "list":
        for row in purge.pending(sessions(s)):
            print(f"{row.video_id}  attempts {row.attempts}  next {row.next_try_at:%Y-%m-%d %H:%M:%S}  "
                  f"{row.last_error or ''}")
        return 0
    store = origin_store(s)
    purger = edge_purger(s)
    origin = purge.OriginTarget(store, s.raw_bucket, s.vod_bucket, s.cold_bucket)
    done = failed = 0
    for row in purge.pending(sessions(s)):  # every pending one now, whatever its back-off says
        d, f = purge.process_pending(sessions(s), origin, purger, video_id=row.video_id)
        done, failed = done + d, failed + f
    print(f"purged {done} deleted videos; {failed} still pending")
    return 0 if failed == 0 else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    tk = sub.add_parser("token", help="issue an API bearer token for a user id (signed with REELFLOW_API_SECRET)")
    tk.add_argument("user_id")
    tk.add_argument("--ttl", type=int, default=None, help="seconds (default: REELFLOW_TOKEN_TTL_S)")
    tk.set_defaults(func=_token)

    us = sub.add_parser("user", help="create a user and print its id and a token")
    us_sub = us.add_subparsers(dest="user_command", required=True)
    uc = us_sub.add_parser("create")
    uc.add_argument("handle")
    uc.add_argument("--region", default="global")
    uc.add_argument("--interest", action="append", default=[], help="a hashtag picked at sign-up (repeatable)")
    uc.set_defaults(func=_user)
    ur = us_sub.add_parser("role", help="set a user's role: user, moderator or admin")
    ur.add_argument("handle")
    ur.add_argument("role", choices=[r.value for r in Role])
    ur.set_defaults(func=_user_role)

    co = sub.add_parser("counters", help="live counters: flush Redis deltas into PostgreSQL totals")
    co.add_argument("action", choices=["flush"])
    co.set_defaults(func=_counters)

    pu = sub.add_parser("purge", help="deleted videos whose origin removal or CDN purge is still pending")
    pu.add_argument("action", choices=["retry", "list"])
    pu.set_defaults(func=_purge)
