"""Deleting a video's bytes: remove its objects from the origin, then purge the CDN (a moderator's takedown:
only the CDN).

The catalog tombstone and a ``pending_purges`` row are written in one transaction (an outbox), so the
delete is never lost; :func:`process_pending` then does the slow, fallible part and deletes the row only
when both the origin and the edge said yes. Failures back off and are retried by the API's background
loop and by ``reelflow purge retry``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.edge_admin import Purger
from adapters.s3 import OriginStore
from catalog.db import session_scope
from catalog.models import PendingPurge, utcnow
from catalog.videos import raw_key_for, sealed_key_for

log = logging.getLogger("jobs.purge")


@dataclass(frozen=True)
class OriginTarget:
    store: OriginStore
    raw_bucket: str
    vod_bucket: str
    cold_bucket: str | None = None  # storage tiering's cold copy of publications

    def remove(self, video_id: str) -> int:
        """Every tier of the origin: the cold copy first, so an edge's cold read racing the delete finds
        nothing to bring back to the hot bucket once that is emptied (the edge also asks the catalog)."""
        prefix = f"v/{video_id}/"
        removed = self.store.delete_prefix(self.cold_bucket, prefix) if self.cold_bucket else 0
        removed += self.store.delete_prefix(self.vod_bucket, prefix)
        removed += self.store.delete_prefix(self.raw_bucket, sealed_key_for(video_id))
        return removed + self.store.delete_prefix(self.raw_bucket, raw_key_for(video_id))


def enqueue(session: Session, video_id: str, *, keep_origin: bool = False) -> None:
    """Part of the delete's (or a takedown's) transaction. A takedown purges every edge tier but keeps the
    origin's objects (``keep_origin``), so an upheld appeal can restore the video; a delete removes both, also
    over a takedown's row still pending."""
    row = session.get(PendingPurge, video_id, with_for_update=True)
    if row is None:
        session.add(PendingPurge(video_id=video_id, keep_origin=keep_origin))
    elif not keep_origin and row.keep_origin:
        row.keep_origin = False
        row.next_try_at = utcnow()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2 ** min(attempts, 7)))


def process_pending(sessions: sessionmaker[Session], origin: OriginTarget, purger: Purger, *,
                    video_id: str | None = None, limit: int = 50) -> tuple[int, int]:
    """Work the outbox (due rows, or just ``video_id``); (done, still pending)."""
    with session_scope(sessions) as s:
        stmt = select(PendingPurge).order_by(PendingPurge.next_try_at).limit(limit)
        stmt = stmt.where(PendingPurge.video_id == video_id) if video_id else stmt.where(
            PendingPurge.next_try_at <= utcnow())
        due = [(row.video_id, row.keep_origin) for row in s.scalars(stmt)]
    done = failed = 0
    for vid, keep_origin in due:
        error: str | None = None
        try:
            if not keep_origin:
                origin.remove(vid)
            purger.purge_video(vid)
        except Exception as exc:  # any failure (origin or edge) leaves the row for a retry
            error = f"{type(exc).__name__}: {exc}"
        with session_scope(sessions) as s:
            row = s.get(PendingPurge, vid, with_for_update=True)
            if row is None:
                continue
            if error is None and row.keep_origin != keep_origin:  # a delete came during a takedown's purge
                continue  # its origin removal is still owed: the row stays for the next pass
            if error is None:
                s.delete(row)
                done += 1
            else:
                row.attempts += 1
                row.last_error = error[:1000]
                row.next_try_at = utcnow() + backoff(row.attempts)
                failed += 1
                log.warning("purge of video %s failed (attempt %d): %s", vid, row.attempts, error)
    return done, failed


def pending(sessions: sessionmaker[Session]) -> list[PendingPurge]:
    with session_scope(sessions) as s:
        return list(s.scalars(select(PendingPurge).order_by(PendingPurge.created_at)))
