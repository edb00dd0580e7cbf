"""Repository functions for the prohibited-media list (fingerprints ingest rejects as ``prohibited``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.fingerprints import get_fingerprint
from catalog.models import ProhibitedMedia
from media.fingerprint import Fingerprint

MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class ProhibitedEntry:
    id: int
    sha256: str
    fingerprint: Fingerprint | None  # None: stored by the first (pHash) engine, not matched until re-added
    reason: str
    source_video_id: str | None
    added_by: str
    created_at: datetime


def _entry(r: ProhibitedMedia) -> ProhibitedEntry:
    fp = None if r.pdq is None else Fingerprint.from_bytes(r.pdq)
    return ProhibitedEntry(r.id, r.sha256, fp, r.reason, r.source_video_id, r.added_by, r.created_at)


def _checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise ValueError(f"a prohibited-media entry needs a reason of 1 to {MAX_REASON_CHARS} characters")
    return reason


def add(session: Session, *, fingerprint: Fingerprint, reason: str, added_by: str,
        source_video_id: str | None = None) -> int:
    """A reference fingerprint (:meth:`Fingerprint.reference`) as a list entry."""
    if not len(fingerprint) and not fingerprint.sha256:
        raise ValueError("a prohibited-media entry needs a fingerprint with frames or a file digest")
    row = ProhibitedMedia(sha256=fingerprint.sha256, pdq=fingerprint.to_bytes(), reason=_checked_reason(reason),
                          source_video_id=source_video_id, added_by=added_by)
    session.add(row)
    session.flush()
    return row.id


def add_video(session: Session, video_id: str, *, reason: str, added_by: str) -> int:
    """The stored fingerprint of a video (e.g. one taken down) as a list entry; LookupError without one."""
    fp = get_fingerprint(session, video_id)
    if fp is None:
        raise LookupError(f"video {video_id} has no fingerprint (it never passed validation)")
    return add(session, fingerprint=fp.fingerprint, reason=reason, added_by=added_by, source_video_id=video_id)


def entries(session: Session) -> list[ProhibitedEntry]:
    return [_entry(r) for r in session.scalars(select(ProhibitedMedia).order_by(ProhibitedMedia.id))]


def remove(session: Session, entry_id: int) -> bool:
    return session.execute(delete(ProhibitedMedia).where(ProhibitedMedia.id == entry_id)).rowcount > 0
