"""Discovery queries over the catalog: the interaction log summed per hashtag or sound and hour (trending), the
candidates for suggested creators, and for related videos. Raw signals out; ``recommend.trends``,
``recommend.creator_suggestions`` and ``recommend.related`` score them.

Only discoverable videos count anywhere here (servable, public, clear with moderation, not deleted): a private
video's hashtag must not trend from its owner's friends' views, and a removed video is related to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Text, and_, bindparam, cast, func, literal, or_, select, text, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from catalog.feeds import Viewer, discovery_conditions, engagement
from catalog.models import (
    Block,
    Follow,
    InteractionEvent,
    Like,
    StoredEmbedding,
    User,
    Video,
    discoverable_sql,
)

_F32 = np.dtype("<f4")
TREND_KINDS = ("view_start", "complete", "like", "comment", "share")


# ------------------------------------------------------------------------------------------- trending
@dataclass(frozen=True)
class TrendRows:
    """Per (term, kind, hour): distinct users; per term: distinct users over the window."""

    keys: list[str]
    kinds: list[str]
    age_h: np.ndarray  # hours from the hour's middle to as_of
    users: np.ndarray
    window_users: dict[str, int]
    labels: dict[str, str] = field(default_factory=dict)  # term -> as shown (a sound id keeps its case)


def trend_rows(session: Session, kind: str, *, as_of: datetime, window_h: float, region: str | None = None
               ) -> TrendRows:
    """``kind`` "tag" or "sound". ``region``: only engagement by people of that region (None: everyone)."""
    if kind not in ("tag", "sound"):
        raise ValueError(f"kind must be tag or sound, not {kind!r}")
    e = InteractionEvent
    since = as_of - timedelta(hours=window_h)
    if kind == "tag":
        term = func.unnest(Video.tag_keys).table_valued("t").render_derived()
        key, label = term.c.t, term.c.t
        base = select().select_from(e).join(Video, Video.id == e.video_id).join(term, literal(True))
    else:
        key, label = func.lower(Video.sound_id), Video.sound_id
        base = select().select_from(e).join(Video, Video.id == e.video_id).where(Video.sound_id.is_not(None))
    if region:
        base = base.join(User, and_(User.id == e.user_id, User.region == region))
    hour = func.date_trunc("hour", e.occurred_at)
    stmt = (base.add_columns(key.label("key"), func.min(label).label("label"), e.kind.label("kind"),
                             hour.label("hour"), func.count(e.user_id.distinct()).label("users"),
                             func.grouping(e.kind).label("whole"))
            .where(e.occurred_at > since, e.occurred_at <= as_of, e.kind.in_(TREND_KINDS),
                   or_(e.kind != "view_start", e.counted.is_(True)), text(discoverable_sql("videos")))
            # One scan, two answers: per (term, kind, hour) and per term over the window (distinct users can't be
            # summed across hours: the same person engages in many).
            .group_by(text("GROUPING SETS ((key, kind, hour), (key))")))
    keys, kinds, ages, users, window_users, labels = [], [], [], [], {}, {}
    for r in session.execute(stmt):
        if r.whole:
            window_users[r.key] = int(r.users)
            labels[r.key] = r.label
        else:
            keys.append(r.key)
            kinds.append(r.kind)
            ages.append((as_of - r.hour).total_seconds() / 3600.0 - 0.5)
            users.append(int(r.users))
    return TrendRows(keys, kinds, np.array(ages, float), np.array(users, float), window_users, labels)


# ------------------------------------------------------------------------------------------- creators
@dataclass(frozen=True)
class CreatorCandidate:
    id: str
    handle: str
    display_name: str
    region: str
    mutual: int  # people the user follows who follow them
    followers: int  # capped at FOLLOWER_COUNT_CAP
    interest_videos: int  # recent discoverable videos carrying the user's interests
    recent_engagement: int  # engagement with their recent discoverable videos


FOLLOWER_COUNT_CAP = 10_000
FOLLOWS_SAMPLED = 200  # the user's most recent follows whose own follows are read (bounds the fan-out)


def creator_candidates(session: Session, user_id: str, *, region: str, interests: Sequence[str], as_of: datetime,
                       recent_days: float = 30.0, per_source: int = 100) -> list[CreatorCandidate]:
    """Creators to suggest to ``user_id``: followed by the people they follow, popular in their region, posting
    their interests, or popular anywhere, each with all four signals. Never themselves, anyone they follow or
    blocked either way, nor anyone with no discoverable video (nothing to look at)."""
    since = as_of - timedelta(days=recent_days)
    mine = select(Follow.followee_id).where(Follow.follower_id == user_id)
    blocked = (select(Block.blocked_id).where(Block.blocker_id == user_id)
               .union(select(Block.blocker_id).where(Block.blocked_id == user_id)))
    excluded = (mine.union(blocked)).subquery()

    sampled = (select(Follow.followee_id).where(Follow.follower_id == user_id)
               .order_by(Follow.created_at.desc()).limit(FOLLOWS_SAMPLED).subquery())
    f2 = Follow.__table__.alias("f2")
    mutual = dict(session.execute(
        select(f2.c.followee_id, func.count()).where(f2.c.follower_id.in_(select(sampled.c.followee_id)))
        .group_by(f2.c.followee_id).order_by(func.count().desc()).limit(per_source * 2)).all())

    recent = and_(text(discoverable_sql("videos")), Video.playable_at > since, Video.creator_id.is_not(None))
    popular = select(Video.creator_id).where(recent).group_by(Video.creator_id) \
        .order_by(func.sum(engagement()).desc()).limit(per_source)
    ids = set(mutual)
    ids.update(session.scalars(popular))
    ids.update(session.scalars(popular.where(Video.region == region)))
    tags = cast(sorted({t.lower() for t in interests}), ARRAY(Text))
    if interests:
        ids.update(session.scalars(select(Video.creator_id).where(recent, Video.tag_keys.overlap(tags))
                                   .group_by(Video.creator_id).order_by(func.count().desc()).limit(per_source)))
    ids.discard(user_id)
    ids -= set(session.scalars(select(excluded.c[0])))
    if not ids:
        return []
    stats = (select(Video.creator_id.label("cid"),
                    func.count().filter(Video.playable_at > since).label("n"),
                    func.coalesce(func.sum(engagement()).filter(Video.playable_at > since), 0).label("eng"),
                    (func.count().filter(and_(Video.playable_at > since, Video.tag_keys.overlap(tags)))
                     if interests else literal(0)).label("topical"))
             .where(text(discoverable_sql("videos")), Video.creator_id.in_(sorted(ids)))
             .group_by(Video.creator_id).subquery())
    some = (select(Follow.follower_id).where(Follow.followee_id == User.id).correlate(User)
            .limit(FOLLOWER_COUNT_CAP).subquery())
    followers = select(func.count()).select_from(some).correlate(User).scalar_subquery()
    stmt = (select(User.id, User.handle, User.display_name, User.region, followers.label("followers"),
                   stats.c.eng, stats.c.topical)
            .join(stats, stats.c.cid == User.id))  # the inner join drops creators with nothing discoverable
    return [CreatorCandidate(r.id, r.handle, r.display_name, r.region, int(mutual.get(r.id, 0)), int(r.followers),
                             int(r.topical), int(r.eng)) for r in session.execute(stmt)]


# ------------------------------------------------------------------------------------------- related videos
@dataclass(frozen=True)
class RelatedCandidates:
    source_fans: int  # people who liked or finished the source video (as read, at most FANS_READ)
    source_vector: np.ndarray | None  # the source's content vector of ``model``
    model: str | None
    ids: list[str]
    creators: list[str | None]
    co: np.ndarray  # fans of the source who also liked or finished each candidate
    fans: np.ndarray  # each candidate's likes + completions (its fan count, approximately)
    engagement: np.ndarray
    vectors: np.ndarray  # (n, dim) float32, zero rows where ``present`` is False
    present: np.ndarray


FANS_READ = 1_000  # the source's most recent fans whose other likes are read
CO_ENGAGED = 200
SAME_TAGS, SAME_SOUND, SAME_CREATOR, POPULAR = 100, 50, 20, 50


def _fans(video_id: str, since: datetime):
    likes = select(Like.user_id.label("u")).where(Like.video_id == video_id)
    done = select(InteractionEvent.user_id.label("u")).where(
        InteractionEvent.video_id == video_id, InteractionEvent.kind == "complete",
        InteractionEvent.occurred_at > since)
    return likes.union(done).limit(FANS_READ).subquery()


def related_candidates(session: Session, video_id: str, *, as_of: datetime, models: Sequence[str] = (),
                       lookback_days: float = 90.0) -> RelatedCandidates:
    """Candidates for the videos related to ``video_id``, discoverable ones only, the source left out: co-engaged
    ones (its fans' other likes and finishes), and for content similarity to judge, videos sharing its hashtags,
    its sound or its creator, and popular recent ones. ``models``: embedding models by preference; the source's
    first one present is used."""
    since = as_of - timedelta(days=lookback_days)
    src = session.execute(select(Video.creator_id, Video.tag_keys, Video.sound_id).where(Video.id == video_id)).one()
    fans = _fans(video_id, since)
    source_fans = int(session.scalar(select(func.count()).select_from(fans)) or 0)
    their = union_all(
        select(Like.user_id.label("u"), Like.video_id.label("v")).where(Like.user_id.in_(select(fans.c.u))),
        select(InteractionEvent.user_id.label("u"), InteractionEvent.video_id.label("v")).where(
            InteractionEvent.user_id.in_(select(fans.c.u)), InteractionEvent.kind == "complete",
            InteractionEvent.occurred_at > since)).subquery()
    co = dict(session.execute(
        select(their.c.v, func.count(their.c.u.distinct())).where(their.c.v != video_id, their.c.v.is_not(None))
        .group_by(their.c.v).order_by(func.count(their.c.u.distinct()).desc(), their.c.v).limit(CO_ENGAGED)).all())

    disc = [text(discoverable_sql("videos")), Video.id != video_id]
    hot = Video.search_hot.desc()
    ids: dict[str, None] = dict.fromkeys(co)
    if src.tag_keys:
        ids.update(dict.fromkeys(session.scalars(
            select(Video.id).where(*disc, Video.tag_keys.overlap(cast(list(src.tag_keys), ARRAY(Text))))
            .order_by(hot).limit(SAME_TAGS))))
    if src.sound_id:
        ids.update(dict.fromkeys(session.scalars(select(Video.id).where(*disc, Video.sound_id == src.sound_id)
                                                 .order_by(hot).limit(SAME_SOUND))))
    if src.creator_id:
        ids.update(dict.fromkeys(session.scalars(select(Video.id).where(*disc, Video.creator_id == src.creator_id)
                                                 .order_by(hot).limit(SAME_CREATOR))))
    ids.update(dict.fromkeys(session.scalars(select(Video.id).where(*disc).order_by(hot).limit(POPULAR))))

    rows = session.execute(select(Video.id, Video.creator_id, Video.like_count, Video.completions,
                                  engagement().label("eng"))
                           .where(*disc, Video.id.in_(list(ids)))).all() if ids else []
    order = {v: i for i, v in enumerate(ids)}
    rows.sort(key=lambda r: order[r.id])  # candidates in discovery order, whatever order the query returned

    model, source_vector = _source_vector(session, video_id, models)
    cand_ids = [r.id for r in rows]
    vectors, present = _vectors(session, cand_ids, model, 0 if source_vector is None else source_vector.size)
    return RelatedCandidates(
        source_fans=source_fans, source_vector=source_vector, model=model, ids=cand_ids,
        creators=[r.creator_id for r in rows], co=np.array([co.get(r.id, 0) for r in rows], float),
        fans=np.array([r.like_count + r.completions for r in rows], float),
        engagement=np.array([r.eng for r in rows], float), vectors=vectors, present=present)


def _source_vector(session: Session, video_id: str, models: Sequence[str]) -> tuple[str | None, np.ndarray | None]:
    rows: Mapping[str, bytes] = dict(session.execute(
        select(StoredEmbedding.model, StoredEmbedding.vector).where(StoredEmbedding.video_id == video_id)).all())
    if not rows:
        return None, None
    preferred = [m for m in models if m in rows] or sorted(rows)
    return preferred[0], np.frombuffer(rows[preferred[0]], _F32).copy()


def _vectors(session: Session, ids: Sequence[str], model: str | None, dim: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((len(ids), dim), np.float32)
    present = np.zeros(len(ids), bool)
    if not ids or model is None or not dim:
        return out, present
    row = {v: i for i, v in enumerate(ids)}
    stmt = select(StoredEmbedding.video_id, StoredEmbedding.vector).where(
        StoredEmbedding.model == bindparam("m", model), StoredEmbedding.video_id.in_(list(ids)),
        StoredEmbedding.dimension == dim)
    for vid, blob in session.execute(stmt):
        out[row[vid]] = np.frombuffer(blob, _F32)
        present[row[vid]] = True
    return out, present


def visible_to(session: Session, viewer: Viewer, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` ``viewer`` may be shown on a discovery surface (their blocks and "not interested")."""
    if not ids:
        return set()
    stmt = select(Video.id).where(text(discoverable_sql("videos")), *discovery_conditions(viewer),
                                  Video.id.in_(list(ids)))
    return set(session.scalars(stmt))

