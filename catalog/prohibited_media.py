"""Repository functions for the prohibited-media list (fingerprints ingest rejects as ``prohibited``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.fingerprints import get_fingerprint
from catalog.models import ProhibitedMedia

MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class ProhibitedEntry:
    id: int
    sha256: str
    times: np.ndarray  # float32
    hashes: np.ndarray  # uint64
    reason: str
    source_video_id: str | None
    added_by: str
    created_at: datetime


def _entry(r: ProhibitedMedia) -> ProhibitedEntry:
    return ProhibitedEntry(r.id, r.sha256, np.asarray(r.times, np.float32),
                           np.asarray(r.hashes, np.int64).view(np.uint64), r.reason, r.source_video_id,
                           r.added_by, r.created_at)


def _checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise ValueError(f"a prohibited-media entry needs a reason of 1 to {MAX_REASON_CHARS} characters")
    return reason


def add(session: Session, *, sha256: str, times: np.ndarray, hashes: np.ndarray, reason: str, added_by: str,
        source_video_id: str | None = None) -> int:
    if len(times) != len(hashes) or not len(hashes):
        raise ValueError("a fingerprint needs as many times as hashes, and at least one")
    row = ProhibitedMedia(sha256=sha256, times=[float(t) for t in times],
                          hashes=np.asarray(hashes, np.uint64).view(np.int64).tolist(),
                          reason=_checked_reason(reason), source_video_id=source_video_id, added_by=added_by)
    session.add(row)
    session.flush()
    return row.id


def add_video(session: Session, video_id: str, *, reason: str, added_by: str) -> int:
    """The stored fingerprint of a video (e.g. one taken down) as a list entry; LookupError without one."""
    fp = get_fingerprint(session, video_id)
    if fp is None:
        raise LookupError(f"video {video_id} has no fingerprint (it never passed validation)")
    return add(session, sha256=fp.sha256, times=fp.times, hashes=fp.hashes, reason=reason, added_by=added_by,
               source_video_id=video_id)


def entries(session: Session) -> list[ProhibitedEntry]:
    return [_entry(r) for r in session.scalars(select(ProhibitedMedia).order_by(ProhibitedMedia.id))]


def remove(session: Session, entry_id: int) -> bool:
    return session.execute(delete(ProhibitedMedia).where(ProhibitedMedia.id == entry_id)).rowcount > 0
