"""Serve a tier chain: build the CDN over any upstream ``Fetch`` and serve it over HTTP/3 and HTTP/1.1.

One process holds the whole simulated CDN (every POP's edge tier, the regional tiers, the shield), so a
flash crowd reaches the origin once and a purge reaches every tier. The upstream is a plain async
function; the S3 origin is wired in by ``reelflow.edge``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
from pathlib import Path

from cdn_sim.cache import POLICIES, make_cache
from cdn_sim.cdn import CDN, CacheFactory
from cdn_sim.certs import ensure_certificate
from cdn_sim.edge import EdgeApp
from cdn_sim.tier import Fetch, TierCache
from cdn_sim.topology import Topology, default_topology
from cdn_sim.transport import start_edge

log = logging.getLogger("reelflow.edge")


def cache_factory(policy: str = "lru", edge_policy: str | None = None) -> CacheFactory:
    """Every tier gets an empty cache of the named eviction policy (cdn_sim.cache.make_cache); the edge
    tiers get ``edge_policy`` when it is given."""
    for name in (policy, edge_policy or policy):
        if name not in POLICIES:
            raise ValueError(f"unknown cache policy {name!r}; known: {', '.join(POLICIES)}")

    def make(level: str, capacity: int) -> TierCache:
        return make_cache(edge_policy if edge_policy and level == "edge" else policy, capacity)
    return make


def build_cdn(origin: Fetch, *, edge_bytes: int, regional_bytes: int | None = None, shield_bytes: int | None = None,
              topology: Topology | None = None, policy: str = "lru", edge_policy: str | None = None,
              max_stale_s: float = math.inf) -> CDN:
    """Regional and shield tiers default to 2x and 4x an edge: each serves more POPs than the one below."""
    return CDN(topology or default_topology(), origin, edge_bytes=edge_bytes,
               regional_bytes=regional_bytes or 2 * edge_bytes, shield_bytes=shield_bytes or 4 * edge_bytes,
               cache_factory=cache_factory(policy, edge_policy), max_stale_s=max_stale_s)


async def serve_app(app: EdgeApp, *, hosts: tuple[str, ...], port: int, cert_dir: Path,
                    ready: asyncio.Event | None = None, reuse_port: bool = False) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (or cancellation)."""
    cert, key = ensure_certificate(cert_dir)
    servers = await start_edge(app, hosts, port, cert, key, reuse_port=reuse_port)
    log.info("edge serving %s on %s port %d (h3/udp + http1.1/tcp, TLS or clear); POPs %s, default region %s; "
             "admin API: %s", app.buckets, hosts, port, ", ".join(app.cdn.edges), app.default_region,
             "bearer token required" if app.admin_token_required else "loopback peers only (no admin token)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    def on_signal(sig: signal.Signals) -> None:
        log.info("edge stopping on %s", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            loop.add_signal_handler(sig, on_signal, sig)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
