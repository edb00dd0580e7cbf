"""Repository functions for fingerprints: store one, load the published ones for the dedup index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import SERVABLE_STATES, StoredFingerprint, Video


@dataclass(frozen=True)
class FingerprintRow:
    video_id: str
    sha256: str
    times: np.ndarray  # float32
    hashes: np.ndarray  # uint64


def save_fingerprint(session: Session, video_id: str, sha256: str, times: np.ndarray, hashes: np.ndarray) -> None:
    """Insert or replace (a re-run recomputes it)."""
    row = session.get(StoredFingerprint, video_id) or StoredFingerprint(video_id=video_id)
    row.sha256 = sha256
    row.times = [float(t) for t in times]
    row.hashes = hashes.astype(np.uint64).view(np.int64).tolist()  # PostgreSQL has no unsigned 64-bit
    session.merge(row)


def _row(r: StoredFingerprint) -> FingerprintRow:
    return FingerprintRow(r.video_id, r.sha256, np.asarray(r.times, np.float32),
                          np.asarray(r.hashes, np.int64).view(np.uint64))


def published_fingerprints(session: Session) -> list[FingerprintRow]:
    """Fingerprints of watchable videos (playable or ready): the originals a new upload is checked against."""
    stmt = (select(StoredFingerprint).join(Video, Video.id == StoredFingerprint.video_id)
            .where(Video.state.in_(SERVABLE_STATES)).order_by(Video.playable_at))
    return [_row(r) for r in session.scalars(stmt)]


def get_fingerprint(session: Session, video_id: str) -> FingerprintRow | None:
    row = session.get(StoredFingerprint, video_id)
    return None if row is None else _row(row)
