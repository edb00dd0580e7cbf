"""The edge process: ``cdn_sim``'s tier chain over the S3 origin, served by ``cdn_sim.server``.

The one place where the CDN core meets the object store; ``reelflow edge`` and the stack run it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from adapters.api_proxy import ApiProxy
from adapters.catalog_check import CatalogCheck
from adapters.origin_fetch import origin_fetcher
from adapters.s3 import OriginConfig, OriginStore
from cdn_sim.access import AccessCache
from cdn_sim.edge import DEFAULT_STATIC_DIR, EdgeApp
from cdn_sim.playback_tokens import PlaybackSigner
from cdn_sim.server import build_cdn, serve_app
from cdn_sim.tier import Fetch
from cdn_sim.topology import Topology


def build_app(origin: OriginConfig | Fetch, buckets: tuple[str, ...], cache_bytes: int, *,
              regional_cache_bytes: int | None = None, shield_cache_bytes: int | None = None,
              default_region: str | None = None, static_dir: Path | None = DEFAULT_STATIC_DIR,
              topology: Topology | None = None, policy: str = "lru", edge_policy: str | None = None,
              cold_buckets: dict[str, str] | None = None, admin_token: str | None = None,
              catalog_url: str | None = None, playback_keys: Sequence[bytes] | None = None,
              api_upstream: str | None = None) -> EdgeApp:
    """``catalog_url``: every video object is gated by the catalog before any tier answers (gone: 404;
    private or followers-only: 403 without a playback token signed with one of ``playback_keys``), and
    objects of the cold buckets (``cold_buckets``: hot bucket -> cold bucket, read as a slower origin) are
    served only for videos it still holds (deleted ones never come back). Without a catalog, every object
    is public. ``admin_token``: the bearer token ``/admin/...`` requires (none: loopback peers only).
    ``api_upstream``: the feed API's URL; ``/v1/...`` is forwarded there, so the web app the edge serves at
    ``/`` reaches the API on its own origin (none: ``/v1`` answers 404)."""
    check = CatalogCheck(catalog_url) if catalog_url else None
    fetch = (origin_fetcher(OriginStore(origin), cold_buckets, check if cold_buckets else None)
             if isinstance(origin, OriginConfig) else origin)
    cdn = build_cdn(fetch, edge_bytes=cache_bytes, regional_bytes=regional_cache_bytes,
                    shield_bytes=shield_cache_bytes, topology=topology, policy=policy,
                    edge_policy=edge_policy)
    # The signer's lifetime is unused here: the edge only verifies (each token carries its expiry).
    playback = PlaybackSigner(playback_keys, ttl_s=1) if playback_keys else None
    return EdgeApp(cdn, buckets, default_region=default_region, static_dir=static_dir, admin_token=admin_token,
                   access=AccessCache(check.access) if check is not None else None, playback=playback,
                   api=ApiProxy(api_upstream) if api_upstream else None)


async def run_edge(origin: OriginConfig, *, buckets: tuple[str, ...], hosts: tuple[str, ...], port: int,
                   cert_dir: Path, cache_bytes: int, regional_cache_bytes: int | None = None,
                   shield_cache_bytes: int | None = None, default_region: str | None = None,
                   static_dir: Path | None = DEFAULT_STATIC_DIR, policy: str = "lru",
                   edge_policy: str | None = None, ready: asyncio.Event | None = None,
                   cold_buckets: dict[str, str] | None = None,
                   admin_token: str | None = None, catalog_url: str | None = None,
                   playback_keys: Sequence[bytes] | None = None, api_upstream: str | None = None) -> None:
    """The edge process: one event loop, one tier chain.

    ``cache_bytes`` is each POP's edge tier. Several worker processes on one SO_REUSEPORT port were
    measured with ``bench/edge.py`` on 2 cores and did not pay (see the README), and each would hold
    its own copy of every tier, multiplying origin fetches and splitting purges, so there is one.
    """
    app = build_app(origin, buckets, cache_bytes, regional_cache_bytes=regional_cache_bytes,
                    shield_cache_bytes=shield_cache_bytes, default_region=default_region, static_dir=static_dir,
                    policy=policy, edge_policy=edge_policy, cold_buckets=cold_buckets, admin_token=admin_token,
                    catalog_url=catalog_url,
                    playback_keys=playback_keys, api_upstream=api_upstream)
    await serve_app(app, hosts=hosts, port=port, cert_dir=cert_dir, ready=ready)
