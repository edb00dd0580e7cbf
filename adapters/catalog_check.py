"""The edge's questions to the catalog: may this video's bytes be served, and to whom?

:meth:`CatalogCheck.access` answers :class:`cdn_sim.access.Access` for a video id: ``GONE`` unless the
video exists, is not deleted and is in a servable state (a takedown or a failed first publish is not),
``SIGNED`` for private and followers-only videos, else ``PUBLIC``. The edge asks before any tier answers,
through :class:`cdn_sim.access.AccessCache`; the cold-tier reader asks ``check(video)`` (servable at all)
before it serves or restores a cold copy, so a deleted video never comes back.

Plain psycopg over one kept connection (reopened after a failure), so the edge image stays without
SQLAlchemy; callers cache the answers.
"""

from __future__ import annotations

import threading

import psycopg

from cdn_sim.access import Access

# catalog.models.SERVABLE_STATES and Privacy.PUBLIC, spelled out for the SQLAlchemy-free edge image;
# tests/unit/test_signed_playback.py holds them equal.
SERVABLE_STATES = ("playable", "ready")
PUBLIC = "public"
QUERY = "SELECT deleted_at IS NULL AND state = ANY(%s), privacy FROM videos WHERE id = %s"


def libpq_url(database_url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` form (the settings') as libpq's ``postgresql://``."""
    scheme, sep, rest = database_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class CatalogCheck:
    """Raises (psycopg.Error) when the catalog cannot be asked: the caller then serves nothing it could not
    vouch for, or an answer it had a moment ago."""

    def __init__(self, database_url: str, *, connect_timeout_s: int = 3) -> None:
        self._url, self._timeout = libpq_url(database_url), connect_timeout_s
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # one question at a time on the kept connection

    def access(self, video_id: str) -> Access:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self._url, connect_timeout=self._timeout, autocommit=True)
                row = self._conn.execute(QUERY, (list(SERVABLE_STATES), video_id)).fetchone()
            except psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise
        if row is None or not row[0]:
            return Access.GONE
        return Access.PUBLIC if row[1] == PUBLIC else Access.SIGNED

    def __call__(self, video_id: str) -> bool:
        """Servable at all (the cold-tier reader's question)."""
        return self.access(video_id) is not Access.GONE

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
