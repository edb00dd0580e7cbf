"""Run one edge process: cache tier over the S3 origin, served over HTTP/3 and HTTP/1.1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from cdn_sim.certs import ensure_certificate
from cdn_sim.edge import EdgeApp, start_edge
from cdn_sim.origin_fetch import origin_fetcher
from cdn_sim.tier import CacheTier
from delivery.origin import OriginConfig, OriginStore

log = logging.getLogger("reelflow.edge")


def build_app(origin: OriginConfig, buckets: tuple[str, ...], cache_bytes: int) -> EdgeApp:
    tier = CacheTier("edge", cache_bytes, origin_fetcher(OriginStore(origin)))
    return EdgeApp(tier, buckets)


async def run_edge(origin: OriginConfig, *, buckets: tuple[str, ...], hosts: tuple[str, ...], port: int,
                   cert_dir: Path, cache_bytes: int, ready: asyncio.Event | None = None) -> None:
    cert, key = ensure_certificate(cert_dir)
    app = build_app(origin, buckets, cache_bytes)
    servers = await start_edge(app, hosts, port, cert, key)
    log.info("edge serving %s on %s port %d (h3/udp + http1.1/tcp)", buckets, hosts, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread (tests)
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
