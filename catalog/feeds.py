"""Feed queries over the catalog: hydration of many videos in one query, and the keyset-paginated lists
that feeds fall back to or are made of (trending, following, hashtag, sound, a creator's videos).

Every list applies the same visibility rules: watchable (playable or ready), not deleted, public
(followers-only too where the viewer follows the creator), no creator blocked either way, nothing the
viewer said "not interested" to. Recency is when a video first became watchable (``playable_at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, func, literal, not_, or_, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import Float, Text

from catalog.models import (
    SERVABLE_STATES,
    Block,
    Follow,
    Moderation,
    NotInterested,
    Privacy,
    Rendition,
    Sound,
    User,
    Video,
    VideoState,
)

CARD_COLUMNS = (Video.id, Video.creator_id, User.handle, User.display_name, Video.caption, Video.hashtags,
                Video.tag_keys, Video.sound_id, Video.category, Video.privacy, Video.state, Video.deleted_at,
                Video.region, Video.created_at, Video.playable_at, Video.ready_at, Video.master_key, Video.poster_key,
                Video.view_count, Video.like_count, Video.comment_count, Video.share_count, Video.watch_ms_total,
                Video.completions, Video.source, Video.moderation, Video.moderation_reason, Video.report_count,
                Sound.title)


@dataclass(frozen=True)
class CardRow:
    """What a feed item needs about a video, without URLs (the API builds those from the keys)."""

    id: str
    creator_id: str | None
    handle: str | None
    display_name: str | None
    caption: str
    hashtags: list[str]
    tag_keys: list[str]
    sound_id: str | None
    category: str | None
    privacy: str
    state: str
    deleted_at: datetime | None
    region: str | None
    created_at: datetime
    playable_at: datetime | None
    ready_at: datetime | None
    master_key: str | None
    poster_key: str | None
    view_count: int
    like_count: int
    comment_count: int
    share_count: int
    watch_ms_total: int
    completions: int
    source: dict | None
    moderation: str = Moderation.CLEAR
    moderation_reason: str | None = None
    report_count: int = 0
    sound_title: str | None = None  # the sound's title (None: no sound, or an id no sound row names)

    @property
    def duration_s(self) -> float | None:
        return (self.source or {}).get("duration_s")


def cards(session: Session, video_ids: Sequence[str]) -> dict[str, CardRow]:
    """Hydrate any number of videos in one query (no N+1), keyed by id; unknown ids are simply absent."""
    if not video_ids:
        return {}
    stmt = (select(*CARD_COLUMNS).outerjoin(User, User.id == Video.creator_id)
            .outerjoin(Sound, Sound.id == Video.sound_id)
            .where(Video.id.in_(list(dict.fromkeys(video_ids)))))
    return {r.id: CardRow(*r) for r in session.execute(stmt)}


@dataclass(frozen=True)
class RenditionRow:
    """One published rendition, as prefetch hints need it (``delivery.prefetch_hints``)."""

    kind: str  # video | audio
    codecs: str
    bandwidth: int  # peak bits per second
    playlist_key: str


def renditions(session: Session, video_ids: Sequence[str]) -> dict[str, list[RenditionRow]]:
    """The published renditions of many videos in one query, keyed by video id (videos without any absent)."""
    if not video_ids:
        return {}
    out: dict[str, list[RenditionRow]] = {}
    stmt = (select(Rendition.video_id, Rendition.kind, Rendition.codecs, Rendition.bandwidth, Rendition.playlist_key)
            .where(Rendition.video_id.in_(list(dict.fromkeys(video_ids)))))
    for vid, kind, codecs, bandwidth, key in session.execute(stmt):
        out.setdefault(vid, []).append(RenditionRow(kind, codecs or "", int(bandwidth or 0), key))
    return out


@dataclass(frozen=True)
class Viewer:
    """Who is looking, and what they must not be shown."""

    user_id: str | None
    blocked: frozenset[str] = frozenset()  # creators blocked either way
    hidden_creators: frozenset[str] = frozenset()  # "not interested"
    hidden_tags: frozenset[str] = frozenset()


def viewer_filters(session: Session, user_id: str | None) -> Viewer:
    if user_id is None:
        return Viewer(None)
    blocked = set(session.scalars(select(Block.blocked_id).where(Block.blocker_id == user_id)
                                  .union(select(Block.blocker_id).where(Block.blocked_id == user_id))))
    creators, tags = set(), set()
    for kind, value in session.execute(select(NotInterested.kind, NotInterested.value)
                                       .where(NotInterested.user_id == user_id)):
        (creators if kind == "creator" else tags).add(value)
    return Viewer(user_id, frozenset(blocked), frozenset(creators), frozenset(tags))


def _visible(viewer: Viewer, *, followers_too: bool = False, discovery: bool = False) -> list[ColumnElement[bool]]:
    """``discovery``: a feed of strangers' videos (trending, hashtag, sound, For You's sources), which takes only
    videos clear with moderation; restricted or held ones still play by link, on profiles and in Following."""
    privacy = (Video.privacy.in_([Privacy.PUBLIC, Privacy.FOLLOWERS]) if followers_too
               else Video.privacy == Privacy.PUBLIC)
    conds: list[ColumnElement[bool]] = [Video.state.in_(SERVABLE_STATES), Video.deleted_at.is_(None), privacy]
    if discovery:
        conds.append(Video.moderation == Moderation.CLEAR)
    hidden = viewer.blocked | viewer.hidden_creators
    if hidden:
        conds.append(or_(Video.creator_id.is_(None), Video.creator_id.not_in(sorted(hidden))))
    if viewer.hidden_tags:
        conds.append(not_(Video.tag_keys.overlap(cast(sorted(viewer.hidden_tags), ARRAY(Text)))))
    return conds


def discovery_conditions(viewer: Viewer) -> list[ColumnElement[bool]]:
    """The discovery feeds' rules for other discovery surfaces (search, related videos, suggestions): servable,
    not deleted, public, clear with moderation, nothing blocked either way or marked "not interested"."""
    return _visible(viewer, discovery=True)


def engagement(video: Any = Video) -> ColumnElement[int]:
    """What "popular" means everywhere in discovery (trending, search, suggestions): views, and likes, comments
    and shares worth 3, 2 and 5 views. ``video``: the model, an alias of it, or a table alias's ``.c``."""
    return video.view_count + 3 * video.like_count + 2 * video.comment_count + 5 * video.share_count


def trending_score(as_of: datetime, region: str | None = None) -> ColumnElement[float]:
    """Engagement per hour of age, gravity 1.5 (the HN form), doubled for the viewer's region.

    ``as_of`` is fixed per feed session (it travels in the cursor), so scores do not drift between pages
    and the keyset below never repeats a video while the counters stand still.
    """
    hours = func.greatest(func.extract("epoch", literal(as_of) - func.coalesce(Video.playable_at, Video.created_at))
                          / 3600.0, 0.0)
    score = cast(engagement() + 1, Float) / func.power(hours + 2.0, 1.5)
    if region:
        score = score * case((Video.region == region, 2.0), else_=1.0)
    return score


def trending(session: Session, viewer: Viewer, *, as_of: datetime, region: str | None = None,
             after: tuple[float, str] | None = None, limit: int = 20) -> list[tuple[str, float]]:
    """(video id, score), best first, strictly after the keyset ``after``."""
    score = trending_score(as_of, region).label("score")
    inner = select(Video.id.label("id"), score).where(*_visible(viewer, discovery=True)).subquery()
    stmt = select(inner.c.id, inner.c.score)
    if after is not None:
        stmt = stmt.where(tuple_(inner.c.score, inner.c.id) < tuple_(literal(after[0], Float), literal(after[1])))
    stmt = stmt.order_by(inner.c.score.desc(), inner.c.id.desc()).limit(limit)
    return [(r.id, float(r.score)) for r in session.execute(stmt)]


def _recent(stmt, after: tuple[datetime, str] | None, limit: int):
    if after is not None:
        stmt = stmt.where(tuple_(Video.playable_at, Video.id) < tuple_(literal(after[0]), literal(after[1])))
    return stmt.order_by(Video.playable_at.desc(), Video.id.desc()).limit(limit)


def _ids_times(session: Session, stmt) -> list[tuple[str, datetime]]:
    return [(r.id, r.playable_at) for r in session.execute(stmt)]


def following(session: Session, viewer: Viewer, *, after: tuple[datetime, str] | None = None,
              limit: int = 20) -> list[tuple[str, datetime]]:
    """Newest videos of the creators the viewer follows, followers-only ones included."""
    followed = select(Follow.followee_id).where(Follow.follower_id == viewer.user_id)
    stmt = select(Video.id, Video.playable_at).where(*_visible(viewer, followers_too=True),
                                                     Video.creator_id.in_(followed))
    return _ids_times(session, _recent(stmt, after, limit))


def with_tag(session: Session, viewer: Viewer, tag: str, *, after: tuple[datetime, str] | None = None,
             limit: int = 20) -> list[tuple[str, datetime]]:
    stmt = select(Video.id, Video.playable_at).where(*_visible(viewer, discovery=True),
                                                  Video.tag_keys.contains(cast([tag.lower()], ARRAY(Text))))
    return _ids_times(session, _recent(stmt, after, limit))


def with_sound(session: Session, viewer: Viewer, sound_id: str, *, after: tuple[datetime, str] | None = None,
               limit: int = 20) -> list[tuple[str, datetime]]:
    stmt = select(Video.id, Video.playable_at).where(*_visible(viewer, discovery=True), Video.sound_id == sound_id)
    return _ids_times(session, _recent(stmt, after, limit))


def by_creator(session: Session, viewer: Viewer, creator_id: str, *, after: tuple[datetime, str] | None = None,
               limit: int = 20) -> list[tuple[str, datetime]]:
    """A profile grid: the creator sees everything watchable of theirs (and what moderation removed, so they
    see why); others what privacy allows them."""
    if viewer.user_id == creator_id:
        conds = [Video.state.in_((*SERVABLE_STATES, VideoState.REMOVED)), Video.deleted_at.is_(None)]
    else:
        follower = viewer.user_id is not None and session.get(Follow, (viewer.user_id, creator_id)) is not None
        conds = _visible(viewer, followers_too=follower)
    stmt = select(Video.id, Video.playable_at).where(*conds, Video.creator_id == creator_id)
    return _ids_times(session, _recent(stmt, after, limit))


def candidates_for(session: Session, viewer: Viewer, *, interests: Sequence[str], region: str | None,
                   as_of: datetime, limit: int = 300) -> list[tuple[str, float, str]]:
    """The simple pool builder's sources, until the recommendation DAGs write pools: (id, score, source).

    Trending (the viewer's region first), videos carrying the viewer's interest tags, and the recent
    videos of followed creators. Scores are comparable within a source only; the ranking rescales them.
    """
    out: list[tuple[str, float, str]] = [(vid, s, "trending") for vid, s in
                                         trending(session, viewer, as_of=as_of, region=region, limit=limit)]
    if interests:
        score = trending_score(as_of, region).label("score")
        stmt = (select(Video.id, score).where(*_visible(viewer, discovery=True),
                                               Video.tag_keys.overlap(cast([t.lower() for t in interests],
                                                                           ARRAY(Text))))
                .order_by(score.desc()).limit(limit // 2))
        out += [(r.id, float(r.score), "interest") for r in session.execute(stmt)]
    if viewer.user_id:
        followed = select(Follow.followee_id).where(Follow.follower_id == viewer.user_id)
        stmt = (select(Video.id, Video.playable_at).where(*_visible(viewer, discovery=True),
                                                          Video.creator_id.in_(followed))
                .order_by(Video.playable_at.desc()).limit(limit // 4))
        out += [(r.id, r.playable_at.timestamp(), "following") for r in session.execute(stmt)]
    return out


def servable_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Video).where(
        and_(Video.state.in_(SERVABLE_STATES), Video.deleted_at.is_(None), Video.privacy == Privacy.PUBLIC))) or 0
