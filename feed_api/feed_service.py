"""Serving a feed page. The handler is a line; this module does the work, in as few round trips as it can:

For You: one Redis script call (rate limit, unseen pool head with cached cards, profile, viewer filters,
user vector) -> cards
(one MGET, one catalog query for misses) -> ranking (the trained ranker blended with the light one, see
``recommend.blended_ranking``) -> diversity -> one pipeline (mark seen, live stats).
Fallbacks: no pool -> the simple builder; pool exhausted -> trending; Redis down -> trending from
PostgreSQL (keyset, scores frozen as of the session start); no model, no user vector of the model's
two-tower version, or a model error -> the light ranker; ranking failure -> pool order.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import msgspec
import numpy as np
from starlette.concurrency import run_in_threadpool

from adapters import live_store
from catalog import feeds
from catalog.db import session_scope
from feed_api import simple_pool
from feed_api.cards import (
    Card,
    ViewerState,
    discoverable,
    for_you_ok,
    get_cards,
    public_json,
    servable,
    viewer_state,
)
from feed_api.cursor import Cursor, CursorError
from feed_api.errors import ApiError, invalid
from feed_api.live import LiveUnavailable
from feed_api.rate_limits import Budget, rate_limit, refuse_if_limited
from feed_api.services import Services
from recommend import blended_ranking, diversity, light_ranker
from recommend.blended_ranking import ModelBundle

log = logging.getLogger("feed_api.feed")
FEED_TYPES = ("for_you", "following", "trending", "hashtag", "sound")
SNAPSHOT_SIZE = 500
_encode = msgspec.json.encode


@dataclass
class Page:
    items: list[bytes]  # each item's JSON (cards.public_json): the page is assembled by concatenation
    next_cursor: str | None
    source: str

    def to_json(self) -> bytes:
        return (b'{"items":[' + b",".join(self.items) + b'],"next_cursor":' + _encode(self.next_cursor)
                + b',"source":' + _encode(self.source) + b"}")


class Request:
    """One page request, validated."""

    def __init__(self, svc: Services, user: str, ftype: str, cursor: str | None, limit: int, tag: str | None,
                 sound_id: str | None, region: str | None) -> None:
        if ftype == "hashtag" and not tag:
            raise invalid("type=hashtag needs tag", "tag")
        if ftype == "sound" and not sound_id:
            raise invalid("type=sound needs sound_id", "sound_id")
        self.svc, self.user, self.type, self.limit = svc, user, ftype, limit
        self.tag = tag.lstrip("#").lower() if tag else None
        self.sound_id, self.region = sound_id, region
        param = {"hashtag": self.tag, "sound": sound_id, "trending": region or ""}.get(ftype)
        self.feed = ftype if param is None else f"{ftype}:{param}"
        if cursor:
            try:
                self.cursor = svc.cursors.decode(cursor)
            except CursorError as exc:
                raise ApiError(400, "invalid_cursor", str(exc)) from exc
            if self.cursor.feed != self.feed or self.cursor.user != user:
                raise ApiError(400, "invalid_cursor", "this cursor belongs to another feed or user")
        else:
            mode = {"for_you": "pool", "trending": "trend"}.get(ftype, "recent")
            self.cursor = Cursor(session=secrets.token_hex(8), feed=self.feed, user=user, mode=mode)

    def next(self, **changes: object) -> str:
        return self.svc.cursors.encode(replace(self.cursor, **changes))


async def feed_page(svc: Services, user: str, ftype: str, cursor: str | None, limit: int, *, tag: str | None = None,
                    sound_id: str | None = None, region: str | None = None) -> Page:
    """One page. The caller has authenticated ``user``; the rate limit is applied here (For You folds it
    into its first Redis round trip)."""
    req = Request(svc, user, ftype, cursor, limit, tag, sound_id, region)
    mode = req.cursor.mode
    if mode != "pool":
        await rate_limit(svc, user)
    live_page = {"pool": _for_you, "trend": _trending_live}.get(mode)
    if live_page is not None:
        try:
            return await live_page(req)
        except LiveUnavailable:
            # Both Redis-backed feeds continue on PostgreSQL's trending keyset from its start.
            svc.metrics.fallbacks.labels("redis_down").inc()
            req.cursor = replace(req.cursor, mode="pg", as_of=0.0, key=[])
            mode = "pg"
    if mode == "pg":
        return await _trending_pg(req)
    return await _recent(req)


# ------------------------------------------------------------------------------------------- For You
async def _for_you(req: Request) -> Page:
    svc, keys, c = req.svc, req.svc.live.keys, req.cursor
    want = max(req.limit * 3, 30)
    pool_keys = [keys.pool(req.user), keys.seen(req.user, c.session)]

    # Read once per page: a model switch during the page cannot mix a ranker with another version's vectors.
    bundle = svc.model_ranker.current if svc.model_ranker is not None else None

    head_keys = [keys.rate(req.user), *pool_keys, keys.profile(req.user), keys.viewer(req.user)]
    if bundle is not None:  # the user vector rides the same round trip, only when a model can use it
        head_keys.append(keys.user_vector(req.user))
    head_args = [*svc.rates[Budget.GENERAL].gcra_args(), want, keys.card("")]
    wait_ms, head, flat_profile, viewer_blob, uvec = await svc.live.fast(
        lambda r: svc.live.script(r, "for_you_head", head_keys, head_args))
    profile = dict(zip(flat_profile[::2], flat_profile[1::2], strict=True))
    refuse_if_limited(wait_ms)
    viewer = await viewer_state(svc, req.user, viewer_blob)
    source = "pool"
    if int(head[0]) == 0:  # no pool yet (new user, expired): build the simple one
        await run_in_threadpool(_build_pool, svc, viewer)
        svc.metrics.fallbacks.labels("pool_built").inc()
        head = await svc.live.run(lambda r: svc.live.script(r, "pool_unseen", pool_keys, [want, keys.card("")]))
    ids, scores, blobs = head[1::3], head[2::3], head[3::3]
    pool = [(v, float(s)) for v, s in zip(ids, scores, strict=True)]
    cards = await get_cards(svc, ids, blobs)
    eligible = [(v, s) for v, s in pool if v in cards and _for_you_card(cards[v], viewer, svc)]

    if len(eligible) < req.limit:  # pool exhausted (or filtered away) for this session: top up from trending
        seen = await svc.live.run(lambda r: r.smembers(keys.seen(req.user, c.session)))
        have = {v for v, _ in eligible}
        snapshot = await _snapshot(svc, viewer.region)
        extra = [v for v in snapshot if v not in seen and v not in have][: req.limit * 3]
        more = await get_cards(svc, extra)
        cards.update(more)
        eligible += [(v, 0.0) for v in extra if v in more and _for_you_card(more[v], viewer, svc)]
        source = "pool+trending" if pool else "trending"
        svc.metrics.fallbacks.labels("pool_exhausted").inc()

    page_ids = _rank(req, eligible, cards, profile, Personal(bundle, uvec, viewer.region))
    items = await _finish(req, page_ids, cards, mark_seen=True)
    return Page(items, req.next(pos=c.pos + len(items)) if items else None, source)


def _for_you_card(card: Card, viewer: ViewerState, svc: Services) -> bool:
    # Moderation and limited exposure on top of what every feed checks: pools are written ahead of time, so a
    # video restricted, held or reported since must be caught here, on the card.
    return servable(card, viewer) and for_you_ok(card, viewer.user_id, svc.exposure)


def _build_pool(svc: Services, viewer: ViewerState) -> None:
    # Through run_sync: a Redis timeout here becomes LiveUnavailable (the PostgreSQL fallback), not a 500.
    with session_scope(svc.sessions) as s:
        svc.live.run_sync(lambda r: simple_pool.build_pool(
            s, r, svc.live.keys, viewer.as_filters(), interests=viewer.interests, region=viewer.region,
            now=datetime.now(UTC)))


@dataclass
class Personal:
    """What the trained ranker needs beyond the candidates: the loaded bundle (None: none loaded), the raw
    ``uvec:{user}`` value (None: missing) and the viewer's region."""

    bundle: ModelBundle | None
    user_vector: str | None
    region: str


def candidates(eligible: list[tuple[str, float]], cards: dict[str, Card], now: float) -> list[light_ranker.Candidate]:
    """The ranking's view of the eligible cards (pool score as retrieval, stats from the card)."""
    cands = []
    for vid, s in eligible:
        card = cards[vid]
        meta, stats = card["_"], card["stats"]
        cands.append(light_ranker.Candidate(
            vid, meta["creator"], tuple(meta["tags"]), card["sound_id"], card["category"],
            (now - meta["ready_ts"]) / 3600.0, s, stats["views"], stats["likes"], stats["comments"],
            stats["shares"], meta["completions"]))
    return cands


def _rank(req: Request, eligible: list[tuple[str, float]], cards: dict[str, Card], profile: dict,
          personal: Personal) -> list[str]:
    if not eligible:
        return []
    metrics = req.svc.metrics
    try:
        now = time.time()
        cands = candidates(eligible, cards, now)
        tags, creators = live_store.parse_profile(profile)
        scores = light_ranker.score(cands, tags, creators)
        ranker = "light"
        if req.svc.model_ranker is not None:
            with_model = _model_scores(req, cands, scores, personal, now)
            if with_model is not None:
                scores, ranker = with_model, "model"
        seed = int.from_bytes(hashlib.blake2b(f"{req.cursor.session}:{req.cursor.pos}".encode(),
                                              digest_size=8).digest(), "big")
        order = diversity.assemble(cands, scores, req.limit, seed=seed)
        metrics.ranked.labels(ranker).inc()
        return [cands[i].video_id for i in order]
    except Exception:  # a ranking bug must not take the feed down: serve the pool's own order
        log.exception("ranking failed; serving pool order")
        metrics.fallbacks.labels("ranking_failed").inc()
        metrics.ranked.labels("pool_order").inc()
        return [v for v, _ in eligible[: req.limit]]


def _model_scores(req: Request, cands: list[light_ranker.Candidate], light: np.ndarray, personal: Personal,
                  now: float) -> np.ndarray | None:
    """The trained ranker's blended scores, or None (the light scores serve) with the reason counted."""
    fallbacks, bundle = req.svc.metrics.fallbacks, personal.bundle
    if bundle is None:
        fallbacks.labels("ranker_no_model").inc()  # none published yet, still loading, or none loads
        return None
    if personal.user_vector is None:
        fallbacks.labels("ranker_no_user_vector").inc()  # a user the refresh has not seen (or expired)
        return None
    try:
        version, vec = live_store.decode_user_vector(personal.user_vector)
        if version != bundle.two_tower_version:  # from another two-tower version: another vector space
            fallbacks.labels("ranker_stale_user_vector").inc()
            return None
        vec = blended_ranking.check_user_vector(vec, bundle.user_dim)
    except ValueError:  # BadUserVector included
        fallbacks.labels("ranker_bad_user_vector").inc()
        return None
    try:
        model, known = blended_ranking.model_scores(bundle, cands, vec, hour=time.gmtime(now).tm_hour,
                                                  region=personal.region)
        return blended_ranking.blend(light, model, known, req.svc.model_ranker.weight)
    except Exception:
        log.exception("the trained ranker failed; serving the light ranker")
        fallbacks.labels("ranker_failed").inc()
        return None


async def _finish(req: Request, page_ids: list[str], cards: dict[str, Card], *, mark_seen: bool) -> list[bytes]:
    """Mark the page seen and add live counter deltas, in one round trip."""
    svc, keys = req.svc, req.svc.live.keys
    if not page_ids:
        return []
    if mark_seen:  # Redis errors propagate: the caller falls back to PostgreSQL
        flat = await svc.live.fast(lambda r: svc.live.script(
            r, "mark_seen", [keys.seen(req.user, req.cursor.session)],
            [live_store.SEEN_TTL_S, keys.counter(""), *page_ids]))
        deltas = {flat[i]: dict(zip(flat[i + 1][::2], flat[i + 1][1::2], strict=True)) for i in range(0, len(flat), 2)}
    else:
        deltas = {}

        async def trip(r):
            pipe = r.pipeline(transaction=False)
            for vid in page_ids:
                pipe.hgetall(keys.counter(vid))
            return await pipe.execute()

        with contextlib.suppress(LiveUnavailable):
            deltas = dict(zip(page_ids, await svc.live.run(trip), strict=True))
    return [public_json(cards[v], deltas.get(v), svc) for v in page_ids]


# ------------------------------------------------------------------------------------------- trending
async def _snapshot(svc: Services, region: str) -> list[str]:
    """The region's trending ids (live scores first, then the catalog's), rebuilt every few seconds."""
    keys = svc.live.keys
    blob = await svc.live.run(lambda r: r.get(keys.trend_snapshot(region)))
    if blob is not None:
        return blob.split(",") if blob else []
    now = time.time()

    async def read_live(r):
        pipe = r.pipeline(transaction=False)
        pipe.zrevrange(keys.trend(region, now), 0, SNAPSHOT_SIZE - 1, withscores=True)
        pipe.zrevrange(keys.trend(region, now - live_store.TREND_PERIOD_S), 0, SNAPSHOT_SIZE - 1, withscores=True)
        return await pipe.execute()

    current, previous = await svc.live.run(read_live)
    # The previous period's scores in today's units.
    scale = 2 ** -(live_store.TREND_PERIOD_S / live_store.TREND_HALF_LIFE_S)
    scores: dict[str, float] = {v: s * scale for v, s in previous}
    for v, s in current:
        scores[v] = scores.get(v, 0.0) + s
    ids = sorted(scores, key=scores.__getitem__, reverse=True)[:SNAPSHOT_SIZE]
    catalog = await run_in_threadpool(_pg_trending_ids, svc, region, SNAPSHOT_SIZE)
    have = set(ids)
    ids += [v for v in catalog if v not in have]
    await svc.live.run(lambda r: r.set(keys.trend_snapshot(region), ",".join(ids), ex=live_store.TREND_SNAPSHOT_TTL_S))
    return ids


def _pg_trending_ids(svc: Services, region: str, limit: int) -> list[str]:
    with session_scope(svc.sessions) as s:
        return [v for v, _ in feeds.trending(s, feeds.Viewer(None), as_of=datetime.now(UTC),
                                             region=None if region == "global" else region, limit=limit)]


async def _trending_live(req: Request) -> Page:
    svc, keys, c = req.svc, req.svc.live.keys, req.cursor

    async def trip(r):
        pipe = r.pipeline(transaction=False)
        pipe.smembers(keys.seen(req.user, c.session))
        pipe.get(keys.viewer(req.user))
        return await pipe.execute()

    seen, viewer_blob = await svc.live.run(trip)
    viewer = await viewer_state(svc, req.user, viewer_blob)
    snapshot = await _snapshot(svc, req.region or viewer.region)
    page: list[str] = []
    cards: dict[str, Card] = {}
    pos, full = c.pos, False
    while not full and pos < len(snapshot):
        window = snapshot[pos: pos + req.limit * 2]
        got = await get_cards(svc, [v for v in window if v not in seen])
        cards.update(got)
        for i, v in enumerate(window):
            if len(page) == req.limit:
                pos, full = pos + i, True
                break
            if v not in seen and v in got and servable(got[v], viewer) and discoverable(got[v]):
                page.append(v)
        else:
            pos += len(window)
    items = await _finish(req, page, cards, mark_seen=True)
    return Page(items, req.next(pos=pos) if items and pos < len(snapshot) else None, "trending")


PG_TRENDING_SIZE = 2000


def _pg_trending_list(svc: Services, session, region: str, as_of: float) -> list[tuple[float, str]]:
    """The catalog's trending order as of ``as_of`` (whole minutes, so sessions share it), computed once per
    minute and region in this process: the fallback must not run the scoring scan on every page."""
    key = (region, as_of)
    ranked = svc.pg_trending.get(key)
    if ranked is None:
        rows = feeds.trending(session, feeds.Viewer(None), as_of=datetime.fromtimestamp(as_of, UTC),
                              region=None if region == "global" else region, limit=PG_TRENDING_SIZE)
        ranked = [(score, vid) for vid, score in rows]
        if len(svc.pg_trending) > 32:
            svc.pg_trending.clear()
        svc.pg_trending[key] = ranked
    return ranked


async def _trending_pg(req: Request) -> Page:
    """Trending straight from PostgreSQL: Redis is down (or was when the session started). Keyset over an
    order frozen at the session's ``as_of``, so pages never repeat a video."""
    c = req.cursor
    as_of = c.as_of or float(int(time.time() // 60 * 60))

    def query() -> tuple[list[str], dict[str, Card], list | None]:
        from feed_api.cards import load_cards_sync, load_viewer_sync

        with session_scope(req.svc.sessions) as s:
            viewer = load_viewer_sync(s, req.user)
            ranked = _pg_trending_list(req.svc, s, req.region or viewer.region, as_of)
            after = (float(c.key[0]), str(c.key[1])) if c.key else None
            pos = 0 if after is None else next((i for i, item in enumerate(ranked) if item < after), len(ranked))
            page: list[str] = []
            cards: dict[str, Card] = {}
            last = None
            while len(page) < req.limit and pos < len(ranked):
                window = ranked[pos: pos + req.limit * 2]
                got = load_cards_sync(req.svc, s, [v for _, v in window])
                for item in window:
                    if len(page) == req.limit:
                        break
                    last, pos = item, pos + 1
                    if item[1] in got and servable(got[item[1]], viewer) and discoverable(got[item[1]]):
                        page.append(item[1])
                        cards[item[1]] = got[item[1]]
            more = pos < len(ranked)
            return page, cards, [last[0], last[1]] if last and more else None

    page, cards, key = await run_in_threadpool(query)
    items = await _finish(req, page, cards, mark_seen=False)
    nxt = req.next(mode="pg", as_of=as_of, key=key) if key and items else None
    return Page(items, nxt, "trending_catalog")


# ------------------------------------------------------------------------------------------- catalog lists
async def _recent(req: Request) -> Page:
    """Following, hashtag and sound feeds: newest first, keyset-paginated in PostgreSQL."""
    c = req.cursor
    after = (datetime.fromisoformat(c.key[0]), str(c.key[1])) if c.key else None

    def query() -> tuple[list[tuple[str, datetime]], dict[str, Card], ViewerState]:
        from feed_api.cards import load_cards_sync, load_viewer_sync

        with session_scope(req.svc.sessions) as s:
            viewer = load_viewer_sync(s, req.user)
            f = viewer.as_filters()
            if req.type == "following":
                rows = feeds.following(s, f, after=after, limit=req.limit)
            elif req.type == "hashtag":
                rows = feeds.with_tag(s, f, req.tag or "", after=after, limit=req.limit)
            else:
                rows = feeds.with_sound(s, f, req.sound_id or "", after=after, limit=req.limit)
            return rows, load_cards_sync(req.svc, s, [v for v, _ in rows]), viewer

    rows, cards, viewer = await run_in_threadpool(query)
    page = [v for v, _ in rows if v in cards and servable(cards[v], viewer, followers_ok=req.type == "following")]
    items = await _finish(req, page, cards, mark_seen=False)
    nxt = req.next(key=[rows[-1][1].isoformat(), rows[-1][0]]) if len(rows) == req.limit else None
    return Page(items, nxt, "catalog")
