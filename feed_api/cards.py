"""Feed cards: one video as a feed item (metadata, author, stats, poster, playback URL on the edge), built
from one batched catalog query and cached in Redis for ``CARD_TTL_S``. A card keeps a few private fields
under ``"_"`` (creator, tag keys, state, ...) that filtering and ranking read and responses leave out.

A card also carries ``prefetch``: the edge URLs of the master, the start rung's media playlist, init and first
segment (and the audio's), so a client can open the next videos before the swipe (``delivery.prefetch_hints``).

Cards read from Redis are parsed once per process: the parse is cached by the blob's content (a changed card
is a new blob, so nothing here can go stale), and so is each card's response JSON up to its stats, so a page
is assembled from bytes. Cached card dicts are shared between requests: nothing may modify one.

Also the viewer's filters (blocks, "not interested", region, interests), cached the same way."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from adapters import live_store
from catalog import feeds
from catalog.db import session_scope
from catalog.models import SERVABLE_STATES, Moderation, Privacy, User
from delivery.prefetch_hints import HintRung, hint_urls, start_keys
from feed_api.live import LiveUnavailable
from feed_api.services import Services
from recommend.exposure import ExposureRule, for_you_eligible

Card = dict
_decode = msgspec.json.decode  # ~3x json.loads; a page reads ~30 cards
_encode = msgspec.json.encode
# Parsed cards by their Redis blob, and response heads by card: bounded, emptied when full (a refill costs one
# parse per card). ~8k cards of ~1 KiB, well under 50 MiB per process.
CACHE_ENTRIES = 8192
_parsed: dict[str, Card] = {}
_heads: dict[int, tuple[Card, bytes]] = {}  # id(card) -> (card, head); the card held keeps the id unique
HIDDEN = ("_", "stats")  # "_" never leaves the API; stats are appended per response (live deltas)


def build_card(row: feeds.CardRow, svc: Services, rungs: list[feeds.RenditionRow] | None = None) -> Card:
    hints = start_keys(row.master_key, [HintRung(r.kind, r.codecs, r.bandwidth, r.playlist_key) for r in rungs]) \
        if row.master_key and rungs else None
    return {
        "id": row.id, "caption": row.caption, "hashtags": list(row.hashtags or []), "sound_id": row.sound_id,
        "sound": {"id": row.sound_id, "title": row.sound_title or row.sound_id} if row.sound_id else None,
        "category": row.category, "privacy": row.privacy,
        "author": {"id": row.creator_id or "", "handle": row.handle, "display_name": row.display_name},
        "stats": {"views": row.view_count, "likes": row.like_count, "comments": row.comment_count,
                  "shares": row.share_count},
        "duration_s": row.duration_s,
        "created_at": row.created_at.isoformat(), "ready_at": row.ready_at.isoformat() if row.ready_at else None,
        "poster_url": svc.playback_url(row.poster_key) if row.poster_key else None,
        "playback_url": svc.playback_url(row.master_key) if row.master_key else "",
        # Signed per response for a video that is not public (public()), like the other URLs.
        "prefetch": hint_urls(hints, svc.playback_url) if hints and row.privacy == Privacy.PUBLIC else None,
        "_": {"creator": row.creator_id, "tags": list(row.tag_keys or []), "state": row.state,
              "deleted": row.deleted_at is not None,
              "ready_ts": row.playable_at.timestamp() if row.playable_at else 0.0,  # age since watchable
              "completions": row.completions, "watch_ms": row.watch_ms_total,
              "master_key": row.master_key, "poster_key": row.poster_key,  # to sign a non-public one's URLs
              "hints": hints,
              "moderation": row.moderation, "reports": row.report_count, "reason": row.moderation_reason},
    }


def load_cards_sync(svc: Services, session: Session, ids: Sequence[str]) -> dict[str, Card]:
    rows = feeds.cards(session, ids)
    rungs = feeds.renditions(session, list(rows))
    return {vid: build_card(row, svc, rungs.get(vid)) for vid, row in rows.items()}


def _load_cards_db(svc: Services, ids: Sequence[str]) -> dict[str, Card]:
    with session_scope(svc.sessions) as s:
        return load_cards_sync(svc, s, ids)


def parse_card(blob: str) -> Card:
    """The card of a Redis blob, parsed once per process per distinct blob (shared: do not modify it)."""
    card = _parsed.get(blob)
    if card is None:
        if len(_parsed) >= CACHE_ENTRIES:
            _parsed.clear()
        card = _parsed[blob] = _decode(blob)
    return card


def _decode_cached(ids: Sequence[str], blobs: Sequence[str | None]) -> dict[str, Card]:
    return {vid: parse_card(blob) for vid, blob in zip(ids, blobs, strict=True) if blob is not None}


def _queue_store(pipe, keys: live_store.Keys, cards: Mapping[str, Card]) -> None:
    """Queue SETs with the card TTL: an entry whose delete was lost (Redis down at that moment) dies in
    ``CARD_TTL_S``."""
    for vid, card in cards.items():
        pipe.set(keys.card(vid), live_store.dumps(card), ex=live_store.CARD_TTL_S)


async def get_cards(svc: Services, ids: Sequence[str], cached: Sequence[str | None] | None = None) -> dict[str, Card]:
    """Cards for ``ids`` (unknown ids absent): Redis first (or ``cached``, the blobs already read with the
    ids), one catalog query for the misses."""
    if not ids:
        return {}
    keys = svc.live.keys
    found: dict[str, Card] = {}
    redis_ok = True
    try:
        if cached is None:
            cached = await svc.live.run(lambda r: r.mget([keys.card(v) for v in ids]))
        found = _decode_cached(ids, cached)
    except LiveUnavailable:
        redis_ok = False
    missing = [v for v in ids if v not in found]
    if missing:
        loaded = await run_in_threadpool(_load_cards_db, svc, missing)
        found.update(loaded)
        if redis_ok and loaded:
            async def store(r):
                pipe = r.pipeline(transaction=False)
                _queue_store(pipe, keys, loaded)
                await pipe.execute()
            with contextlib.suppress(LiveUnavailable):
                await svc.live.run(store)
    return found


def get_cards_sync(svc: Services, session: Session, ids: Sequence[str]) -> dict[str, Card]:
    """The same for sync handlers, inside their session."""
    if not ids:
        return {}
    keys = svc.live.keys
    found: dict[str, Card] = {}
    redis_ok = True
    try:
        found = _decode_cached(ids, svc.live.run_sync(lambda r: r.mget([keys.card(v) for v in ids])))
    except LiveUnavailable:
        redis_ok = False
    missing = [v for v in ids if v not in found]
    if missing:
        loaded = load_cards_sync(svc, session, missing)
        found.update(loaded)
        if redis_ok and loaded:
            def store(r):
                pipe = r.pipeline(transaction=False)
                _queue_store(pipe, keys, loaded)
                pipe.execute()
            with contextlib.suppress(LiveUnavailable):
                svc.live.run_sync(store)
    return found


def drop_cards(svc: Services, ids: Iterable[str]) -> None:
    ids = list(ids)
    if ids:
        # If Redis is down, cards expire within CARD_TTL_S of its return; single-video reads check PostgreSQL.
        with contextlib.suppress(LiveUnavailable):
            svc.live.run_sync(lambda r: r.delete(*(svc.live.keys.card(v) for v in ids)))


# ------------------------------------------------------------------------------------------- viewer
@dataclass(frozen=True)
class ViewerState:
    user_id: str
    region: str
    interests: tuple[str, ...]
    blocked: frozenset[str]
    hidden_creators: frozenset[str]
    hidden_tags: frozenset[str]

    def as_filters(self) -> feeds.Viewer:
        return feeds.Viewer(self.user_id, self.blocked, self.hidden_creators, self.hidden_tags)

    def to_json(self) -> str:
        return live_store.dumps({"region": self.region, "interests": list(self.interests),
                                 "blocked": sorted(self.blocked), "hidden_creators": sorted(self.hidden_creators),
                                 "hidden_tags": sorted(self.hidden_tags)})

    @classmethod
    def from_json(cls, user_id: str, blob: bytes | str) -> ViewerState:
        d = json.loads(blob)
        return cls(user_id, d["region"], tuple(d["interests"]), frozenset(d["blocked"]),
                   frozenset(d["hidden_creators"]), frozenset(d["hidden_tags"]))


def load_viewer_sync(session: Session, user_id: str) -> ViewerState:
    user = session.get(User, user_id)
    f = feeds.viewer_filters(session, user_id)
    return ViewerState(user_id, user.region if user else "global", tuple(user.interests or []) if user else (),
                       f.blocked, f.hidden_creators, f.hidden_tags)


def _load_viewer_db(svc: Services, user_id: str) -> ViewerState:
    with session_scope(svc.sessions) as s:
        return load_viewer_sync(s, user_id)


async def viewer_state(svc: Services, user_id: str, cached: bytes | str | None = None, *,
                       redis_ok: bool = True) -> ViewerState:
    if cached is not None:
        return ViewerState.from_json(user_id, cached)
    state = await run_in_threadpool(_load_viewer_db, svc, user_id)
    if redis_ok:
        with contextlib.suppress(LiveUnavailable):
            await svc.live.run(lambda r: r.set(svc.live.keys.viewer(user_id), state.to_json(), ex=600))
    return state


def forget_viewers(svc: Services, *user_ids: str) -> None:
    """After a block, unblock or "not interested": the next page must see the change."""
    # While Redis is down the feed reads PostgreSQL; a restarted Redis is empty, so it holds no stale viewer.
    with contextlib.suppress(LiveUnavailable):
        svc.live.run_sync(lambda r: r.delete(*(svc.live.keys.viewer(u) for u in user_ids)))


# ------------------------------------------------------------------------------------------- filters
def servable(card: Card, viewer: ViewerState | None, *, followers_ok: bool = False) -> bool:
    meta = card["_"]
    if meta["deleted"] or meta["state"] not in SERVABLE_STATES or not card["playback_url"]:
        return False
    if card["privacy"] != Privacy.PUBLIC and not (followers_ok and card["privacy"] == Privacy.FOLLOWERS):
        return False
    if viewer is not None:
        creator = meta["creator"]
        if creator and (creator in viewer.blocked or creator in viewer.hidden_creators):
            return False
        if viewer.hidden_tags and any(t in viewer.hidden_tags for t in meta["tags"]):
            return False
    return True


def discoverable(card: Card) -> bool:
    """May a discovery feed (trending, hashtag, sound) show it: clear with moderation (cards cached before the
    field existed count as clear; they expire within CARD_TTL_S)."""
    return card["_"].get("moderation", Moderation.CLEAR) == Moderation.CLEAR


def for_you_ok(card: Card, viewer_id: str, rule: ExposureRule) -> bool:
    """May For You show it to this viewer: clear with moderation, and past limited exposure or in its sample."""
    meta = card["_"]
    return for_you_eligible(rule, viewer_id=viewer_id, video_id=card["id"], creator_id=meta["creator"],
                            views=card["stats"]["views"], reports=meta.get("reports", 0),
                            moderation=meta.get("moderation", Moderation.CLEAR))


def public(card: Card, deltas: Mapping[bytes | str, bytes | str] | None, svc: Services) -> dict:
    """The card as clients see it, with live counter deltas added to the stats. A non-public video's URLs
    are signed here, per response, not in the shared cached card: the edge refuses them unsigned."""
    out = {k: v for k, v in card.items() if k != "_"}
    if card["privacy"] != Privacy.PUBLIC:
        meta = card["_"]
        master, poster, hints = meta.get("master_key"), meta.get("poster_key"), meta.get("hints")
        base = svc.signed_base(card["id"])

        def signed(key: str) -> str:
            return f"{base}/{key}"

        out["playback_url"] = signed(master) if master else ""
        out["poster_url"] = signed(poster) if poster else None
        out["prefetch"] = hint_urls(hints, signed) if hints else None
    if deltas:
        stats = dict(out["stats"])
        for name, field in (("views", "views"), ("likes", "likes"), ("comments", "comments"), ("shares", "shares")):
            d = deltas.get(name) or deltas.get(name.encode())
            if d:
                stats[field] = max(0, stats[field] + int(d))
        out["stats"] = stats
    return out


def _head(card: Card) -> bytes:
    """A public card's JSON up to its stats: ``{...,"stats":`` (cached per card object)."""
    entry = _heads.get(id(card))
    if entry is not None and entry[0] is card:
        return entry[1]
    head = _encode({k: v for k, v in card.items() if k not in HIDDEN})[:-1] + b',"stats":'
    if len(_heads) >= CACHE_ENTRIES:
        _heads.clear()
    _heads[id(card)] = (card, head)
    return head


def public_json(card: Card, deltas: Mapping[bytes | str, bytes | str] | None, svc: Services) -> bytes:
    """:func:`public` as JSON bytes, assembled from the card's cached head: a feed page is a concatenation."""
    if card["privacy"] != Privacy.PUBLIC:  # URLs signed per response: the slow way
        return _encode(public(card, deltas, svc))
    stats = card["stats"]
    if deltas:
        stats = dict(stats)
        for name in ("views", "likes", "comments", "shares"):
            d = deltas.get(name) or deltas.get(name.encode())
            if d:
                stats[name] = max(0, stats[name] + int(d))
    return _head(card) + _encode(stats) + b"}"
