"""``GET /v1/sounds/{id}`` (a sound's page) and ``GET /v1/sounds/{id}/videos`` (the videos using it, paged).

A sound another user may not see (its original video deleted, removed, not public, or its creator blocked
either way) answers 404 exactly as a sound that does not exist, so its page reveals nothing; its clip is under
the video's prefix at the origin, where the edge refuses it on its own. The rules are ``catalog.sounds``'.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from catalog import feeds
from catalog import sounds as repo
from catalog.db import session_scope
from catalog.models import Privacy
from feed_api.activity import live_deltas
from feed_api.cards import discoverable, get_cards_sync, load_viewer_sync, public, servable
from feed_api.cursor import Cursor, CursorError
from feed_api.deps import MaybeUser, Svc
from feed_api.errors import ApiError
from feed_api.schemas import SOUND_ID, Actor, SoundOut, SoundVideos
from feed_api.services import Services

router = APIRouter(prefix="/v1/sounds", tags=["sounds"])
SoundId = Annotated[str, Path(pattern=SOUND_ID, description="sound id")]
Sort = Annotated[Literal["recent", "popular"], Query(description="recent: newest first; popular: most viewed first")]
Limit = Annotated[int, Query(ge=1, le=50)]
ERRORS = {404: {"description": "no such sound, or not one you may see"},
          400: {"description": "tampered or foreign cursor"}}


def _visible(s: Session, sound_id: str, viewer: str | None):
    sound = repo.get(s, sound_id)
    if sound is None or not repo.visible_to(s, sound, viewer):
        raise ApiError(404, "sound_not_found", f"sound {sound_id!r} does not exist")
    return sound


def _page(svc: Services, s: Session, sound_id: str, viewer: str | None, sort: str, cursor: str | None,
          limit: int) -> SoundVideos:
    feed = f"sound:{sound_id}:{sort}"
    after = None
    if cursor:
        try:
            key = svc.cursors.key_for(cursor, feed, viewer)
        except CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from exc
        after = repo.parse_after(sort, key)
    state = load_viewer_sync(s, viewer) if viewer else None
    rows = repo.videos(s, state.as_filters() if state else feeds.Viewer(None), sound_id, sort=sort,
                       after=after, limit=limit)
    cards = get_cards_sync(svc, s, [v for v, _ in rows])
    shown = [v for v, _ in rows if v in cards and servable(cards[v], state) and discoverable(cards[v])]
    deltas = live_deltas(svc, shown)
    nxt = svc.cursors.encode(Cursor(session="", feed=feed, user=viewer or "", mode="sound", key=rows[-1][1])) \
        if len(rows) == limit else None
    return SoundVideos(items=[public(cards[v], deltas.get(v), svc) for v in shown], next_cursor=nxt)


@router.get("/{sound_id}", response_model=SoundOut, responses=ERRORS)
def get_sound(sound_id: SoundId, viewer: MaybeUser, svc: Svc, sort: Sort = "recent", limit: Limit = 20) -> SoundOut:
    """The sound's page: title, creator, its audio (the first 60 s, on the edge), how many videos use it, and the
    first page of them (``next_cursor`` continues with GET /v1/sounds/{id}/videos)."""
    with session_scope(svc.sessions) as s:
        sound = _visible(s, sound_id, viewer)
        row = repo.page_row(s, sound)
        # A non-public original is visible here to its creator only: sign its clip, as the edge requires.
        signed = row.original_privacy is not None and row.original_privacy != Privacy.PUBLIC
        audio = svc.playback_url(sound.audio_key, signed=signed) if sound.audio_key else None
        page = _page(svc, s, sound_id, viewer, sort, None, limit)
        return SoundOut(id=sound.id, title=sound.title, kind=sound.kind,
                        creator=Actor(id=sound.creator_id, handle=row.creator_handle) if sound.creator_id else None,
                        original_video_id=sound.original_video_id, audio_url=audio, duration_s=sound.duration_s,
                        videos=repo.use_count(s, sound_id), reusable=sound.reusable, created_at=sound.created_at,
                        items=page.items, next_cursor=page.next_cursor)


@router.get("/{sound_id}/videos", response_model=SoundVideos, responses=ERRORS)
def sound_videos(sound_id: SoundId, viewer: MaybeUser, svc: Svc, sort: Sort = "recent", limit: Limit = 20,
                 cursor: Annotated[str | None, Query(max_length=1024)] = None) -> SoundVideos:
    """Videos using the sound that you may find, newest or most viewed first; follow ``next_cursor``."""
    with session_scope(svc.sessions) as s:
        _visible(s, sound_id, viewer)
        return _page(svc, s, sound_id, viewer, sort, cursor, limit)
