"""The edge's one question to the catalog: may this video's bytes still be served from the cold tier?

Asked only on a cold read (storage tiering moved the publication out of the hot bucket), before the object
is served or the publication is restored: a deleted video's cold copy must not come back between its delete
and the outbox's removal of that copy. Plain psycopg, one short connection per question, answers cached for
a few seconds: cold reads are rare, and the edge image stays without SQLAlchemy.
"""

from __future__ import annotations

import threading
import time

import psycopg


def libpq_url(database_url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` form (the settings') as libpq's ``postgresql://``."""
    scheme, sep, rest = database_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class CatalogCheck:
    """``check(video_id)``: True when the video exists and is not deleted. Raises when the catalog cannot
    be asked: the edge then answers an error, and serves nothing it could not vouch for."""

    def __init__(self, database_url: str, *, ttl_s: float = 5.0, connect_timeout_s: int = 3) -> None:
        self._url, self._ttl_s, self._timeout = libpq_url(database_url), ttl_s, connect_timeout_s
        self._cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, video_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(video_id)
        if hit is not None and now - hit[0] < self._ttl_s:
            return hit[1]
        with psycopg.connect(self._url, connect_timeout=self._timeout) as conn:
            row = conn.execute("SELECT deleted_at IS NULL FROM videos WHERE id = %s", (video_id,)).fetchone()
        servable = bool(row and row[0])
        with self._lock:
            self._cache[video_id] = (now, servable)
        return servable
