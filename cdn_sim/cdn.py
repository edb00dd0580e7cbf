"""The live tier chain: an edge tier per POP -> a regional tier per region -> one origin shield -> origin.

Every tier coalesces concurrent misses, so however many clients ask at once, each tier asks the one
above it once per object: a flash crowd on one POP reaches its regional tier once; crowds on every POP
reach the shield once per region and the origin once. Routing (which POP serves a client) is
:meth:`cdn_sim.topology.Topology.route` with the POPs currently marked down.
"""

from __future__ import annotations

import asyncio
import math
import posixpath
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import m3u8

from cdn_sim.cache import LRUCache
from cdn_sim.tier import CachedObject, CacheTier, Fetch, NotFound, Outcome, TierCache
from cdn_sim.topology import Pop, Topology

CacheFactory = Callable[[str, int], TierCache]  # (level, capacity bytes) -> an empty cache
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class Delivery:
    obj: CachedObject
    outcome: Outcome  # at the edge
    pop: Pop


@dataclass
class PushReport:
    keys: list[str]
    pops: list[str]
    fetched: int = 0  # (edge, object) pairs brought in
    already_fresh: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"keys": self.keys, "pops": self.pops, "fetched": self.fetched, "already_fresh": self.already_fresh,
                "bytes": self.bytes, "missing": self.missing, "errors": self.errors}


def _lru(level: str, capacity: int) -> TierCache:
    return LRUCache(capacity)


class CDN:
    def __init__(self, topology: Topology, origin: Fetch, *, edge_bytes: int, regional_bytes: int,
                 shield_bytes: int, cache_factory: CacheFactory = _lru, clock: Callable[[], float] = time.monotonic,
                 max_stale_s: float = math.inf) -> None:
        self.topology = topology
        self.down: set[str] = set()

        def tier(name: str, level: str, capacity: int, upstream: Fetch) -> CacheTier:
            return CacheTier(name, cache_factory(level, capacity), upstream, level=level, clock=clock,
                             max_stale_s=max_stale_s)

        self.shield = tier("shield", "shield", shield_bytes, origin)
        self.regionals = {r: tier(f"regional-{r}", "regional", regional_bytes, self.shield.fetch)
                          for r in topology.regions}
        self.edges = {p.name: tier(p.name, "edge", edge_bytes, self.regionals[p.region].fetch)
                      for p in topology.pops}

    @property
    def tiers(self) -> list[CacheTier]:
        return [*self.edges.values(), *self.regionals.values(), self.shield]

    # -- routing -----------------------------------------------------------------------------------

    def route(self, region: str, pop: str | None = None) -> Pop:
        """The POP for a client of ``region``; ``pop`` pins one (simulations, tests) unless it is down."""
        if pop is not None:
            chosen = next((p for p in self.topology.pops if p.name == pop), None)
            if chosen is None:
                raise ValueError(f"unknown POP {pop!r}")
            if chosen.name not in self.down:
                return chosen
        return self.topology.route(region, self.down)

    def set_down(self, pop: str, down: bool = True) -> None:
        if pop not in self.edges:
            raise ValueError(f"unknown POP {pop!r}")
        (self.down.add if down else self.down.discard)(pop)

    async def get(self, key: str, region: str, pop: str | None = None) -> Delivery:
        """Serve ``key`` (``"<bucket>/<object key>"``) to a client of ``region``. Raises NotFound / upstream errors."""
        chosen = self.route(region, pop)
        obj, outcome = await self.edges[chosen.name].lookup(key)
        return Delivery(obj, outcome, chosen)

    # -- purge and push ----------------------------------------------------------------------------

    def purge_prefix(self, prefix: str) -> dict[str, int]:
        """Remove everything under ``prefix`` at every tier; {tier: objects removed}."""
        if not prefix:
            raise ValueError("refusing to purge everything")
        # Synchronous, so no request runs between two tiers' purges; fetches already in flight at any tier
        # will not store what they bring back (CacheTier.purge_prefix).
        return {t.name: t.purge_prefix(prefix) for t in self.tiers}

    def purge_video(self, video_id: str, bucket: str = "vod") -> dict[str, int]:
        if not VIDEO_ID.fullmatch(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        return self.purge_prefix(f"{bucket}/v/{video_id}/")

    async def push(self, keys: Iterable[str], pops: Iterable[str] | None = None, *,
                   concurrency: int = 32, views: float = 0.0) -> PushReport:
        """Warm the edges (every POP that is up, or ``pops``) with ``keys``, through the chain. ``views``:
        the demand forecast that motivates the push, per POP, handed to each edge cache as a hint
        (:meth:`cdn_sim.cache.ByteCache.hint`) so a popularity-valued policy keeps what was pushed."""
        keys = list(dict.fromkeys(keys))
        targets = [p for p in (self.edges if pops is None else pops) if p not in self.down]
        for p in targets:
            if p not in self.edges:
                raise ValueError(f"unknown POP {p!r}")
        if views > 0:
            for p in targets:
                for key in keys:
                    self.edges[p].cache.hint(key, views)
        report = PushReport(keys, targets)
        gate = asyncio.Semaphore(concurrency)

        async def one(pop: str, key: str) -> None:
            async with gate:
                tier = self.edges[pop]
                try:
                    brought = await tier.prefetch(key)
                except NotFound:
                    if key not in report.missing:
                        report.missing.append(key)
                    return
                except Exception as exc:  # origin trouble: report it, keep warming the rest
                    report.errors[key] = f"{type(exc).__name__}: {exc}"
                    return
                if brought is not None:
                    report.fetched += 1
                    report.bytes += brought.size
                else:
                    report.already_fresh += 1

        await asyncio.gather(*(one(p, k) for k in keys for p in targets))
        return report

    async def push_hls(self, playlist_keys: Iterable[str], segments: int = 2, pops: Iterable[str] | None = None,
                       *, variants: int | None = None, views: float = 0.0) -> PushReport:
        """Push master (or media) playlists, their media playlists, init segments and first ``segments``;
        with ``variants``, only the master's first ``variants`` variant streams (players start on the first
        one) and its audio renditions."""
        keys: list[str] = []
        for key in playlist_keys:
            keys += await hls_prefetch_keys(self.shield.fetch, key, segments, variants)
        return await self.push(keys, pops, views=views)

    def status(self) -> dict[str, object]:
        return {
            "down": sorted(self.down),
            "tiers": [{"name": t.name, "level": t.level, "objects": len(t.cache), "used_bytes": t.cache.used,
                       "capacity_bytes": t.cache.capacity, **vars(t.counters)} for t in self.tiers],
        }


# -- HLS references (pure) ---------------------------------------------------------------------------

def resolve_key(base_key: str, uri: str) -> str | None:
    """The cache key a playlist URI names, relative to the playlist's key; None if it leaves the bucket."""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        path = parts.path.lstrip("/")  # an absolute URL to this edge: /<bucket>/<key>
    else:
        path = posixpath.join(posixpath.dirname(base_key), parts.path) if not parts.path.startswith("/") \
            else parts.path.lstrip("/")
    path = posixpath.normpath(path)
    if path.startswith("..") or path in (".", "") or path.split("/", 1)[0] != base_key.split("/", 1)[0]:
        return None
    return path


def media_playlist_keys(master_text: str, master_key: str, variants: int | None = None) -> list[str]:
    """The variant and rendition playlists a master names (I-frame playlists are not needed to start);
    with ``variants``, only the first ``variants`` variant streams, and every rendition (audio)."""
    pl = m3u8.loads(master_text)
    if not pl.is_variant:
        return []
    streams = pl.playlists if variants is None else pl.playlists[:variants]
    uris = [p.uri for p in streams] + [m.uri for m in pl.media if m.uri]
    return [k for k in dict.fromkeys(resolve_key(master_key, u) for u in uris) if k]


def first_segment_keys(media_text: str, media_key: str, segments: int) -> list[str]:
    """The init segment(s) and the first ``segments`` media segments of a media playlist."""
    pl = m3u8.loads(media_text)
    uris = [m.uri for m in pl.segment_map if m.uri] + [s.uri for s in pl.segments[:segments]]
    return [k for k in dict.fromkeys(resolve_key(media_key, u) for u in uris) if k]


async def hls_prefetch_keys(fetch: Fetch, playlist_key: str, segments: int, variants: int | None = None
                            ) -> list[str]:
    text = (await fetch(playlist_key)).body.decode("utf-8", "replace")
    media = media_playlist_keys(text, playlist_key, variants)
    if not media:  # a media playlist was given
        return [playlist_key, *first_segment_keys(text, playlist_key, segments)]
    bodies = await asyncio.gather(*(fetch(k) for k in media))
    keys = [playlist_key, *media]
    for key, obj in zip(media, bodies, strict=True):
        keys += first_segment_keys(obj.body.decode("utf-8", "replace"), key, segments)
    return list(dict.fromkeys(keys))
