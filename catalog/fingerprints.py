"""Repository functions for fingerprints: store one, load the published ones for the dedup index."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from catalog.models import SERVABLE_STATES, Privacy, StoredFingerprint, Video
from media.fingerprint import Fingerprint


@dataclass(frozen=True)
class FingerprintRow:
    video_id: str
    fingerprint: Fingerprint


def save_fingerprint(session: Session, video_id: str, fingerprint: Fingerprint) -> None:
    """Insert or replace (a re-run recomputes it); a legacy pHash fingerprint of the video is dropped."""
    row = session.get(StoredFingerprint, video_id) or StoredFingerprint(video_id=video_id)
    row.sha256 = fingerprint.sha256
    row.pdq = fingerprint.to_bytes()
    row.times = row.hashes = None
    session.merge(row)


def _row(r: StoredFingerprint) -> FingerprintRow:
    return FingerprintRow(r.video_id, Fingerprint.from_bytes(r.pdq))


def legacy_count(session: Session) -> int:
    """Fingerprints stored by the first (pHash) engine only: the PDQ engine cannot compare them."""
    return session.scalar(select(func.count()).select_from(StoredFingerprint).where(StoredFingerprint.pdq.is_(None)))


def published_fingerprints(session: Session, *, uploader: str | None = None,
                           every_privacy: bool = False) -> list[FingerprintRow]:
    """Fingerprints of watchable videos (playable or ready): the originals a new upload is checked against.

    Deleted videos are forgotten (their creator may upload the clip again). Another creator's private or
    followers-only video is no reference for ``uploader``: a rejection would name it (or confirm that it
    exists), and refusing a file the uploader already holds protects nothing. Their own videos count, in any
    privacy. ``every_privacy`` is for operators (``reelflow dedup check``)."""
    stmt = (select(StoredFingerprint).join(Video, Video.id == StoredFingerprint.video_id)
            .where(Video.state.in_(SERVABLE_STATES), Video.deleted_at.is_(None), StoredFingerprint.pdq.is_not(None)))
    if not every_privacy:
        mine = Video.creator_id == uploader if uploader is not None else false()
        stmt = stmt.where(or_(Video.privacy == Privacy.PUBLIC, mine))
    return [_row(r) for r in session.scalars(stmt.order_by(Video.playable_at))]


def get_fingerprint(session: Session, video_id: str) -> FingerprintRow | None:
    row = session.get(StoredFingerprint, video_id)
    return None if row is None or row.pdq is None else _row(row)
