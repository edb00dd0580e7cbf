"""``POST /v1/interactions``: batched playback events from the player.

Each batch is appended to the durable log in one INSERT; view starts are de-duplicated (one per user,
video and clock hour); counters, trending and the user's near-real-time profile are updated in one Redis
pipeline, so the next feed page already reflects what was just watched."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter

from catalog import events
from catalog.db import session_scope
from catalog.models import User as UserRow
from feed_api.activity import LiveUpdate, apply, dedup_views
from feed_api.cards import get_cards_sync, load_viewer_sync, servable
from feed_api.deps import Svc, User
from feed_api.schemas import InteractionBatch, InteractionResult

router = APIRouter(prefix="/v1", tags=["interactions"])

QUICK_SKIP_MS = 2000  # a skip before this much watching is a negative signal; later ones are neutral


@router.post("/interactions", status_code=202, response_model=InteractionResult)
def post_interactions(batch: InteractionBatch, user: User, svc: Svc) -> InteractionResult:
    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    with session_scope(svc.sessions) as s:
        ids = list(dict.fromkeys(e.video_id for e in batch.events))
        cards = get_cards_sync(svc, s, ids)
        viewer = load_viewer_sync(s, user)
        # Events about videos that do not exist, or that this user may not see, are dropped (not an error:
        # a player may report a video deleted a moment ago).
        ok = {v for v, c in cards.items() if c["_"]["creator"] == user or servable(c, viewer, followers_ok=True)}
        kept = [e for e in batch.events if e.video_id in ok]
        counted = dedup_views(svc, s, user, [e.video_id for e in kept if e.kind == "view_start"], now)
        row = s.get(UserRow, user)
        update = LiveUpdate(row.region if row else "global")
        log: list[events.Event] = []
        for e in kept:
            is_counted = e.kind == "view_start" and e.video_id in counted
            if is_counted:
                counted.discard(e.video_id)  # only the first view start of the batch counts
                update.count(e.video_id, "views")
            if e.kind == "complete":
                update.count(e.video_id, "completions")
            if e.watch_ms:
                update.count(e.video_id, "watch_ms", e.watch_ms)
            kind = e.kind
            if kind == "skip" and (e.watch_ms or 0) >= QUICK_SKIP_MS:
                kind = "progress"  # a late skip is not a dislike
            if e.kind != "view_start" or is_counted:
                update.signal(cards[e.video_id], "view" if is_counted else kind, now)
            log.append(events.Event(user, e.kind, e.video_id, session_id=e.session_id, watch_ms=e.watch_ms,
                                    progress=e.progress, counted=is_counted, occurred_at=at))
        events.append(s, log)
    counted_views = sum(1 for e in log if e.counted)
    apply(svc, user, update)
    return InteractionResult(accepted=len(log), counted_views=counted_views, dropped=len(batch.events) - len(log),
                             durable="postgresql")
