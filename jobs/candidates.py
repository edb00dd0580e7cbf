"""The candidate-pool refresh: read one snapshot of the catalog and the event log, compute every active
user's pool from the sources, write the pools to Redis. The DAG ``refresh_candidates`` calls these.

Split in three so the middle is pure: :func:`load_snapshot` (a handful of SQL queries), :func:`compute_pools`
(sources + merger, no I/O), :func:`write_pools` (one MULTI per user through ``adapters.live_store.write_pool``).
Everything is read as of a fixed time (the DAG run's), and exploration is seeded by it, so re-running a
window writes the same pools; each pool is written whole, so a re-run never leaves a mix.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters import live_store
from catalog import embeddings
from catalog.models import (
    Block,
    Follow,
    InteractionEvent,
    Moderation,
    NotInterested,
    Privacy,
    User,
    Video,
    VideoState,
)
from recommend import pools, sources
from recommend.sources import CandidateSource, Scored, TrendEvent, VectorSource

# DAG pools outlive the refresh schedule (15 min) several times over, so a few failed runs in a row still
# leave users with a pool; the simple builder's stand-in lives 10 minutes.
POOL_TTL_S = 3 * 3600
CLIENT_KINDS = ("view_start", "progress", "complete", "skip")


@dataclass(frozen=True)
class RefreshConfig:
    as_of: datetime
    embedding_model: str
    window_days: float = 14.0  # events read for seeds, trending, exposure and "seen"
    active_days: float = 7.0  # users with an event this recent get a pool
    following_days: float = 30.0
    explore_days: float = 30.0
    pool_size: int = pools.DEFAULT_SIZE
    quotas: Mapping[str, int] = field(default_factory=lambda: dict(pools.DEFAULT_QUOTAS))
    per_source: int = 400  # candidates asked of each source per user, before filtering


@dataclass
class Snapshot:
    as_of: float
    meta: dict[str, pools.VideoMeta]  # servable videos (ready, public, not deleted)
    ready_ts: dict[str, float]
    users: dict[str, str]  # active user -> region
    history: dict[str, list[tuple[str, str, float]]]  # user -> (video, kind, at), oldest first
    trend_events: list[TrendEvent]
    followees: dict[str, set[str]]
    filters: dict[str, pools.Filters]
    exposure: dict[str, float]  # counted views per video in the window
    embedding_ids: list[str]
    embedding_vectors: np.ndarray


@dataclass
class RefreshStats:
    users: int
    pools: int
    mean_size: float
    by_source: dict[str, int]
    seconds: dict[str, float]


def load_snapshot(session: Session, cfg: RefreshConfig) -> Snapshot:
    as_of = cfg.as_of
    start = as_of - timedelta(days=cfg.window_days)
    active_since = (as_of - timedelta(days=cfg.active_days)).timestamp()
    v = Video
    rows = session.execute(select(v.id, v.creator_id, v.tag_keys, v.ready_at).where(
        v.state == VideoState.READY, v.deleted_at.is_(None), v.privacy == Privacy.PUBLIC,
        v.moderation == Moderation.CLEAR,  # restricted or held for review: never in a For You pool
        v.ready_at <= as_of)).all()
    meta = {r.id: pools.VideoMeta(r.creator_id, tuple(r.tag_keys or ())) for r in rows}
    ready_ts = {r.id: r.ready_at.timestamp() for r in rows}

    e = InteractionEvent
    events = session.execute(
        select(e.user_id, e.video_id, e.kind, e.occurred_at, e.counted, User.region)
        .join(User, User.id == e.user_id)
        .where(e.occurred_at >= start, e.occurred_at <= as_of, e.video_id.is_not(None))
        .order_by(e.occurred_at, e.id)).all()
    history: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    users: dict[str, str] = {}
    trend_events: list[TrendEvent] = []
    exposure: dict[str, float] = defaultdict(float)
    for user_id, video_id, kind, at, counted, region in events:
        ts = at.timestamp()
        history[user_id].append((video_id, kind, ts))
        trend_events.append(TrendEvent(video_id, region or "global", kind, ts))
        if kind == "view_start" and counted:
            exposure[video_id] += 1
        if ts >= active_since:
            users[user_id] = region or "global"

    active = sorted(users)
    followees: dict[str, set[str]] = defaultdict(set)
    blocked: dict[str, set[str]] = defaultdict(set)
    hidden_c: dict[str, set[str]] = defaultdict(set)
    hidden_t: dict[str, set[str]] = defaultdict(set)
    for chunk in _chunks(active, 1000):
        follows = select(Follow.follower_id, Follow.followee_id).where(Follow.follower_id.in_(chunk))
        for a, b in session.execute(follows):
            followees[a].add(b)
        for a, b in session.execute(select(Block.blocker_id, Block.blocked_id).where(
                Block.blocker_id.in_(chunk) | Block.blocked_id.in_(chunk))):
            blocked[a].add(b)
            blocked[b].add(a)
        for u, kind, value in session.execute(select(NotInterested.user_id, NotInterested.kind, NotInterested.value)
                                              .where(NotInterested.user_id.in_(chunk))):
            (hidden_c if kind == "creator" else hidden_t)[u].add(value)
    filters = {u: pools.Filters(seen=frozenset(vid for vid, kind, _ in history[u] if kind in CLIENT_KINDS),
                                blocked_creators=frozenset(blocked[u]), hidden_creators=frozenset(hidden_c[u]),
                                hidden_tags=frozenset(hidden_t[u])) for u in active}

    emb = embeddings.ready_embeddings(session, cfg.embedding_model)
    keep = [i for i, vid in enumerate(emb.video_ids) if vid in meta]
    return Snapshot(as_of.timestamp(), meta, ready_ts, users, dict(history), trend_events, dict(followees), filters,
                    dict(exposure), [emb.video_ids[i] for i in keep], emb.vectors[keep])


def build_sources(snap: Snapshot, cfg: RefreshConfig) -> list[CandidateSource]:
    """The hand-written sources over one snapshot (two-tower comes from the registry, see ``models``)."""
    users, k, now = sorted(snap.users), cfg.per_source, snap.as_of
    regional = sources.trending_velocity(snap.trend_events, now, k=k)
    trending = {u: sources.trending_for(regional, snap.users[u], k) for u in users}

    seeds = {u: sources.seed_weights(((v, kind, at) for v, kind, at in snap.history.get(u, ())), now) for u in users}
    similar = sources.content_similar(snap.embedding_ids, snap.embedding_vectors, seeds, k)

    follow_since = now - cfg.following_days * 86400
    recent_by_creator: dict[str, Scored] = defaultdict(list)
    for vid, m in snap.meta.items():
        if m.creator_id and snap.ready_ts[vid] >= follow_since:
            recent_by_creator[m.creator_id].append((vid, snap.ready_ts[vid]))
    follow = sources.following({u: snap.followees.get(u, ()) for u in users}, recent_by_creator, k)

    explore_since = now - cfg.explore_days * 86400
    fresh = {vid: snap.exposure.get(vid, 0.0) for vid, t in snap.ready_ts.items() if t >= explore_since}
    if len(fresh) < k:  # a quiet catalog: explore all of it
        fresh = {vid: snap.exposure.get(vid, 0.0) for vid in snap.meta}
    explore = sources.exploration(users, fresh, k, salt=str(int(now)))
    return [sources.StaticSource("trending", trending, regional.get("global")),
            sources.StaticSource("similar", similar), sources.StaticSource("following", follow),
            sources.StaticSource("explore", explore)]


def compute_pools(snap: Snapshot, cfg: RefreshConfig,
                  extra: Sequence[CandidateSource] = ()) -> dict[str, pools.MergeResult]:
    """Every active user's merged, filtered pool. Pure: the snapshot and the sources are all it reads."""
    users = sorted(snap.users)
    answers: dict[str, dict[str, Scored]] = {}
    for src in [*build_sources(snap, cfg), *extra]:
        answers[src.name] = src.candidates(users, cfg.per_source)
    out: dict[str, pools.MergeResult] = {}
    for u in users:
        f = snap.filters.get(u, pools.Filters())
        per_user = {name: got.get(u, []) for name, got in answers.items()}
        out[u] = pools.merge(per_user, cfg.quotas, keep=lambda vid, f=f: pools.allowed(vid, snap.meta, f),
                             size=cfg.pool_size)
    return out


def write_pools(r: redis.Redis, keys: live_store.Keys, merged: Mapping[str, pools.MergeResult], *, source: str,
                ttl_s: int = POOL_TTL_S) -> int:
    written = 0
    for user, result in merged.items():
        if result.pool:  # an empty pool would hide the simple builder's fallback; leave those users to it
            live_store.write_pool(r, keys, user, result.pool, source=source, ttl_s=ttl_s)
            written += 1
    return written


def write_user_vectors(r: redis.Redis, keys: live_store.Keys, src: VectorSource, *, version: str,
                       ttl_s: int = POOL_TTL_S) -> int:
    """Each user's two-tower vector beside their pool (same TTL), tagged with the model ``version``: the
    feed's trained ranker takes it as its user feature, and the vectors are already computed for retrieval
    here, while the API holds no user tower (nor the log it would need)."""
    return live_store.write_user_vectors(r, keys, ((u, src.user_vectors[i]) for u, i in src.user_index.items()),
                                   version=version, ttl_s=ttl_s)


def refresh(unit_of_work: Callable[[], AbstractContextManager[Session]], r: redis.Redis, keys: live_store.Keys,
            cfg: RefreshConfig, *, source: str, extra: Callable[[Snapshot], Sequence[CandidateSource]] | None = None,
            ttl_s: int = POOL_TTL_S) -> RefreshStats:
    """Snapshot -> pools -> Redis, timed per stage. ``extra`` builds model-backed sources for the snapshot."""
    t0 = time.perf_counter()
    with unit_of_work() as session:
        snap = load_snapshot(session, cfg)
    t1 = time.perf_counter()
    merged = compute_pools(snap, cfg, extra(snap) if extra else ())
    t2 = time.perf_counter()
    written = write_pools(r, keys, merged, source=source, ttl_s=ttl_s)
    t3 = time.perf_counter()
    by_source: dict[str, int] = defaultdict(int)
    for m in merged.values():
        for name, n in m.by_source.items():
            by_source[name] += n
    sizes = [len(m.pool) for m in merged.values()]
    return RefreshStats(len(snap.users), written, float(np.mean(sizes)) if sizes else 0.0, dict(by_source),
                        {"load": round(t1 - t0, 3), "compute": round(t2 - t1, 3), "write": round(t3 - t2, 3)})


def _chunks(items: Sequence[str], n: int) -> list[Sequence[str]]:
    return [items[i:i + n] for i in range(0, len(items), n)]

