"""Discovery routes: trending hashtags and sounds per region, suggested creators, and related videos under a video.
The work is in :mod:`jobs.discovery`.

Trending lists and related lists are the same for everyone who asks within ``CACHE_S``, so they are computed
once per process in that time (the first is a scan of the last two days of the interaction log); each caller's
blocks and "not interested" are applied to the cached list, never baked into it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from catalog import feeds
from catalog.db import session_scope
from catalog.models import User as UserRow
from feed_api.activity import live_deltas
from feed_api.cards import discoverable, get_cards_sync, load_viewer_sync, public, servable
from feed_api.deps import MaybeUser, Svc, User
from feed_api.schemas import (
    REGION,
    RelatedVideos,
    SuggestedCreator,
    SuggestedCreators,
    TrendingHashtag,
    TrendingHashtags,
    TrendingSound,
    TrendingSounds,
)
from feed_api.services import Services
from feed_api.videos import VideoId, load_visible
from jobs import discovery

router = APIRouter(tags=["discover"])
CACHE_S = 30.0
CACHE_ENTRIES = 2048
GLOBAL = "global"  # the region that means everyone
Region = Annotated[str | None, Query(pattern=REGION, description="whose engagement counts: a region code, or "
                                                               "global for everyone (default: yours, or global)")]
Limit = Annotated[int, Query(ge=1, le=50)]
T = TypeVar("T")


def _cached(svc: Services, key: tuple, compute: Callable[[], T]) -> T:
    now = time.monotonic()
    hit = svc.discovery.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    if len(svc.discovery) >= CACHE_ENTRIES:
        svc.discovery.clear()  # simpler than LRU, and a refill costs one computation per key
    svc.discovery[key] = (now + CACHE_S, value)
    return value


def _trending(svc: Services, kind: str, region: str | None, viewer: str | None, limit: int):
    with session_scope(svc.sessions) as s:
        if region is None:
            user = s.get(UserRow, viewer) if viewer else None
            region = user.region if user else GLOBAL
        hidden = feeds.viewer_filters(s, viewer).hidden_tags if kind == "tag" else frozenset()

        def compute():
            return discovery.trending(s, kind, as_of=datetime.now(UTC), region=None if region == GLOBAL else region)

        items = _cached(svc, ("trending", kind, region), compute)
    return region, [t for t in items if t.term not in hidden][:limit]


@router.get("/v1/discover/hashtags", response_model=TrendingHashtags)
def trending_hashtags(viewer: MaybeUser, svc: Svc, region: Region = None, limit: Limit = 20) -> TrendingHashtags:
    """Hashtags whose videos people engage with now: a decayed score over the last 48 hours (half-life 6 h),
    counting distinct people per hour (a view 1, a finish 2, a like 3, a comment 4, a share 5)."""
    region, items = _trending(svc, "tag", region, viewer, limit)
    return TrendingHashtags(region=region, window_hours=discovery.TRENDS.window_h,
                            items=[TrendingHashtag(tag=t.label, score=round(t.score, 4), people=t.users)
                                   for t in items])


@router.get("/v1/discover/sounds", response_model=TrendingSounds)
def trending_sounds(viewer: MaybeUser, svc: Svc, region: Region = None, limit: Limit = 20) -> TrendingSounds:
    """Sounds whose videos people engage with now; scored as hashtags are."""
    region, items = _trending(svc, "sound", region, viewer, limit)
    return TrendingSounds(region=region, window_hours=discovery.TRENDS.window_h,
                          items=[TrendingSound(sound_id=t.label, score=round(t.score, 4), people=t.users)
                                 for t in items])


@router.get("/v1/discover/creators", response_model=SuggestedCreators)
def suggested_creators(user: User, svc: Svc, limit: Limit = 20) -> SuggestedCreators:
    """Creators to follow: followed by people you follow, popular in your region, posting your interests, or
    popular now; never yourself, anyone you follow or anyone blocked either way. Each says why."""
    with session_scope(svc.sessions) as s:
        found = discovery.suggested_creators(s, user, as_of=datetime.now(UTC), limit=limit)
    return SuggestedCreators(items=[SuggestedCreator(id=c.id, handle=c.handle, display_name=c.display_name,
                                                     reason=c.reason, followed_by_people_you_follow=c.mutual,
                                                     followers=c.followers) for c in found])


@router.get("/v1/videos/{video_id}/related", response_model=RelatedVideos,
            responses={404: {"description": "no such video, or not one you may see"}})
def related_videos(video_id: VideoId, viewer: MaybeUser, svc: Svc, limit: Limit = 20) -> RelatedVideos:
    """Videos to watch next: like this one in content (its embedding) and liked or finished by the same people,
    discoverable ones only, at most two per creator ahead of the rest."""
    with session_scope(svc.sessions) as s:
        load_visible(s, video_id, viewer)  # 404 as GET /v1/videos/{id} would: a private video stays unknown

        def compute():
            return discovery.related_videos(s, video_id, as_of=datetime.now(UTC))

        ranked = _cached(svc, ("related", video_id), compute)
        state = load_viewer_sync(s, viewer) if viewer else None
        # A cached list is the same for everyone; this viewer's blocks and "not interested" apply now, and the
        # cards' own state catches anything deleted or taken down since the list was made.
        ids = [v for v, _ in ranked[:limit * 2]]
        cards = get_cards_sync(svc, s, ids)
    shown = [v for v in ids if v in cards and servable(cards[v], state) and discoverable(cards[v])][:limit]
    deltas = live_deltas(svc, shown)
    return RelatedVideos(video_id=video_id, items=[public(cards[v], deltas.get(v), svc) for v in shown])
