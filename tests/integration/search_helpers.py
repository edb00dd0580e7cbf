"""Helpers for the search and discovery tests: videos with chosen captions, the dictionary's rebuild, events."""

from __future__ import annotations

from datetime import timedelta

from catalog import events
from catalog import search as catalog_search
from catalog.db import session_scope
from catalog.models import Video, utcnow
from tests.integration.feed_helpers import ready_video, word


def vocab(n: int = 8) -> str:
    """A word no other test's video uses (random letters), so results are this test's own."""
    return "q" + word(n)


def video(sessions, creator: str, caption: str, *, tags: tuple[str, ...] = (), views: int = 0, likes: int = 0,
          sound: str | None = None, privacy: str = "public", state: str = "ready", hours_ago: float = 0.0,
          moderation: str = "clear", deleted: bool = False) -> str:
    vid = ready_video(sessions, creator, tags=tags, privacy=privacy, sound=sound,
                      state="ready" if state in ("ready", "removed") else state, hours_ago=hours_ago)
    with session_scope(sessions) as s:
        v = s.get(Video, vid)
        v.caption, v.view_count, v.like_count, v.moderation = caption, views, likes, moderation
        if state == "removed":
            v.state = "removed"
        if deleted:
            v.deleted_at = utcnow()
    return vid


def refresh_terms(sessions) -> dict[str, int]:
    with session_scope(sessions) as s:
        return catalog_search.refresh_terms(s)


def engage(sessions, user_id: str, video_id: str, kind: str, *, hours_ago: float = 1.0) -> None:
    """One logged interaction (a view counts, as the API's de-duplication would mark it)."""
    with session_scope(sessions) as s:
        events.append(s, [events.Event(user_id=user_id, kind=kind, video_id=video_id,
                                       counted=kind == "view_start",
                                       occurred_at=utcnow() - timedelta(hours=hours_ago))])
