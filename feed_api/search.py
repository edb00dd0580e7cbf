"""``GET /v1/search`` (videos, people, hashtags, sounds; typo-tolerant, results as you type) and
``GET /v1/search/suggest`` (what a search box shows under the cursor). The work is in :mod:`jobs.search`.

Anyone may search (anonymous callers spend their address's budget); what is found is only what discovery may
show the caller: discoverable videos minus their blocks and "not interested", people minus blocks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from catalog import feeds
from catalog.db import session_scope
from feed_api.activity import live_deltas
from feed_api.cards import discoverable, get_cards_sync, public, servable
from feed_api.cursor import Cursor, CursorError
from feed_api.deps import MaybeUser, Svc
from feed_api.errors import ApiError, invalid
from feed_api.schemas import (
    Correction,
    HashtagHit,
    SearchPage,
    SoundHit,
    SuggestionList,
    SuggestionOut,
    UserHit,
)
from feed_api.services import Services
from jobs import search as jobs_search
from recommend.search_query import MAX_QUERY_CHARS, ParsedQuery, QueryProblem, parse

router = APIRouter(prefix="/v1/search", tags=["search"])
SearchType = Literal["videos", "users", "hashtags", "sounds"]
Q = Annotated[str, Query(max_length=MAX_QUERY_CHARS, description=(
    "what was typed: words (a #word must be a hashtag); the last word is matched as a prefix unless a space "
    "follows it. Marks such as & | ! : * ( ) ' only separate words. 2-100 characters"))]
ERRORS = {400: {"description": "tampered or foreign cursor"},
          422: {"description": "q too short (fewer than 2 letters or digits), too long, or holding a NUL"}}


def _parsed(q: str) -> ParsedQuery:
    try:
        return parse(q)
    except QueryProblem as exc:
        raise invalid(str(exc), "q") from exc


def _position(svc: Services, cursor: str | None, feed: str, viewer: str | None) -> tuple[int, float]:
    """(items already served, the as-of time of the session's recency scores)."""
    if not cursor:
        return 0, datetime.now(UTC).timestamp()
    try:
        c = svc.cursors.decode(cursor)
    except CursorError as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from exc
    if c.feed != feed or c.user != (viewer or "") or c.mode != "search":
        raise ApiError(400, "invalid_cursor", "this cursor belongs to another search or user")
    return c.pos, c.as_of


@router.get("", response_model=SearchPage, responses=ERRORS)
def search(q: Q, viewer: MaybeUser, svc: Svc, type: SearchType = "videos",
           cursor: Annotated[str | None, Query(max_length=1024, description="next_cursor of the previous page")]
           = None, limit: Annotated[int, Query(ge=1, le=50)] = 20) -> SearchPage:
    """Videos (by caption and hashtags), people (by handle and display name), hashtags or sounds, ranked by
    relevance combined with popularity and recency; typos are corrected (``corrections`` says how)."""
    parsed = _parsed(q)
    try:
        key = {"videos": parsed.key, "users": jobs_search.people_query(q)}.get(type, parsed.text)
    except QueryProblem as exc:
        raise invalid(str(exc), "q") from exc
    feed = f"search:{type}:{key}"
    pos, as_of = _position(svc, cursor, feed, viewer)
    corrections: list[Correction] = []
    with session_scope(svc.sessions) as s:
        viewer_filters = feeds.viewer_filters(s, viewer)
        try:
            if type == "videos":
                found = jobs_search.search_videos(s, viewer_filters, parsed, as_of=datetime.fromtimestamp(as_of, UTC))
                total, page_ids = len(found.ids), found.ids[pos:pos + limit]
                cards = get_cards_sync(svc, s, page_ids)
                corrections = [Correction(word=w, also_searched=a) for w, a in found.corrections.items()]
            elif type == "users":
                people = jobs_search.search_users(s, viewer, q)
                total = len(people)
                items = [UserHit(id=p.id, handle=p.handle, display_name=p.display_name, followers=p.followers)
                         for p in people[pos:pos + limit]]
            else:
                kind = "tag" if type == "hashtags" else "sound"
                terms = jobs_search.search_terms(s, kind, q, hidden=viewer_filters.hidden_tags)
                total = len(terms)
                items = [HashtagHit(tag=t.label, videos=t.videos) if kind == "tag"
                         else SoundHit(sound_id=t.label, videos=t.videos) for t in terms[pos:pos + limit]]
        except QueryProblem as exc:
            raise invalid(str(exc), "q") from exc
    if type == "videos":
        # The query filtered already; this second look drops what changed since the cards were cached.
        shown = [v for v in page_ids if v in cards and servable(cards[v], None) and discoverable(cards[v])]
        deltas = live_deltas(svc, shown)
        items = [public(cards[v], deltas.get(v), svc) for v in shown]
    nxt = (svc.cursors.encode(Cursor(session="", feed=feed, user=viewer or "", mode="search", pos=pos + limit,
                                     as_of=as_of)) if pos + limit < total else None)
    return SearchPage(type=type, query=parsed.text, items=items, corrections=corrections, next_cursor=nxt)


@router.get("/suggest", response_model=SuggestionList, responses={422: ERRORS[422]})
def suggest(q: Q, viewer: MaybeUser, svc: Svc) -> SuggestionList:
    """Completions of what is being typed: queries (the last word completed or corrected), hashtags, people;
    at most three of each."""
    parsed = _parsed(q)
    with session_scope(svc.sessions) as s:
        found = jobs_search.suggest(s, feeds.viewer_filters(s, viewer), q)
    return SuggestionList(query=parsed.text, items=[SuggestionOut(kind=x.kind, text=x.text, user_id=x.id,
                                                                  videos=x.videos) for x in found])
