"""Video stat totals in PostgreSQL: what the live Redis counters (adapters.live_store) are flushed into, and what
the API writes straight to while Redis is down."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import bindparam, func, update
from sqlalchemy.orm import Session

from catalog.models import Video

# Counter name (in Redis hashes and API code) -> videos column.
COLUMNS = {"views": "view_count", "likes": "like_count", "comments": "comment_count", "shares": "share_count",
           "watch_ms": "watch_ms_total", "completions": "completions"}


def add_deltas(session: Session, deltas: Mapping[str, Mapping[str, int]]) -> int:
    """Add ``{video_id: {counter: delta}}`` to the totals in one executemany; unknown counters are ignored."""
    rows = []
    for video_id, d in deltas.items():
        row = {"vid": video_id, **{col: int(d.get(name, 0)) for name, col in COLUMNS.items()}}
        if any(row[c] for c in COLUMNS.values()):
            rows.append(row)
    if not rows:
        return 0
    t = Video.__table__
    # Never below zero: an unlike flushed before its like (two API processes) must not show -1.
    stmt = (update(t).where(t.c.id == bindparam("vid"))
            .values({col: func.greatest(t.c[col] + bindparam(col), 0) for col in COLUMNS.values()}))
    session.execute(stmt, rows)
    return len(rows)
