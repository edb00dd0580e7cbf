"""Edge throughput over HTTP/3: the Reelflow edge (full tier chain, warm) beside a bare aioquic file server.

Both servers hold the same objects (segment-sized, 200 KB - 1 MB) and are driven, in the same run, by the
same load: client processes with several QUIC connections each, every connection keeping a number of
GETs in flight. The edge answers from its edge tier (warmed first, so the origin, a fake in process, is
out of the picture); the bare server answers from a dict with no routing, caching, ranges or headers.
So the gap is the cost of the edge's HTTP work, and both are bounded by aioquic itself.

    .venv/bin/python bench/edge.py [--seconds 5] [--clients 2] [--connections 2] [--streams 8] [--workers 1 2]
                                   [--rounds 5]

``--workers 1 2`` also runs the edge as 2 processes sharing the UDP port with SO_REUSEPORT. Client and
servers share this machine's cores, so MB per server CPU-second is printed beside MB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.asyncio.server import QuicServer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

from cdn_sim.certs import ensure_certificate
from cdn_sim.tier import CachedObject, NotFound
from cdn_sim.transport import _udp_socket

IMMUTABLE = "public, max-age=31536000, immutable"


def make_objects(count: int, seed: int = 7) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"/vod/v/bench/p/720p/seg{i:03d}.m4s": rng.randbytes(rng.randint(200_000, 1_000_000))
            for i in range(count)}


# -- servers (each in its own process) -----------------------------------------------------------------

def run_edge_worker(port: int, cert_dir: str, count: int, ready: mp.Event, reuse_port: bool) -> None:
    from cdn_sim.server import serve_app
    from reelflow.edge import build_app

    objects = make_objects(count)

    async def origin(key: str) -> CachedObject:
        body = objects.get("/" + key)
        if body is None:
            raise NotFound(key)
        return CachedObject(body, "video/iso.segment", IMMUTABLE, f'"{len(body)}"')

    async def main() -> None:
        app = build_app(origin, ("vod",), 1 << 30, static_dir=None)
        ev = asyncio.Event()
        task = asyncio.ensure_future(serve_app(app, hosts=("127.0.0.1",), port=port, cert_dir=Path(cert_dir),
                                               ready=ev, reuse_port=reuse_port))
        await ev.wait()
        ready.set()
        await task

    asyncio.run(main())


class BareProtocol(QuicConnectionProtocol):
    """The baseline: aioquic's own HTTP/3 connection answering GETs from a dict, nothing else."""

    objects: dict[str, bytes] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._http: H3Connection | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self._http = H3Connection(self._quic)
        if self._http is None:
            return
        for ev in self._http.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_ended:
                path = dict(ev.headers).get(b":path", b"/").decode()
                body = self.objects.get(path)
                if body is None:
                    self._http.send_headers(ev.stream_id, [(b":status", b"404")], end_stream=True)
                else:
                    self._http.send_headers(ev.stream_id, [(b":status", b"200"), (b"content-length",
                                                                                   str(len(body)).encode())])
                    self._http.send_data(ev.stream_id, body, end_stream=True)
        self.transmit()


def run_bare_server(port: int, cert_dir: str, count: int, ready: mp.Event) -> None:
    BareProtocol.objects = make_objects(count)
    cert, key = ensure_certificate(Path(cert_dir))

    async def main() -> None:
        config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        config.load_cert_chain(str(cert), str(key))
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: QuicServer(configuration=config, create_protocol=BareProtocol),
                                            sock=_udp_socket("127.0.0.1", port, False))
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


# -- load (client processes) -----------------------------------------------------------------------------

class LoadProtocol(QuicConnectionProtocol):
    """Counts response bytes without keeping them: the client should cost as little CPU as it can."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self._waiting: dict[int, tuple[asyncio.Future[tuple[int, int]], list[int]]] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for ev in self.http.handle_event(event):
            self._h3(ev)

    def _h3(self, ev: H3Event) -> None:
        entry = self._waiting.get(getattr(ev, "stream_id", -1))
        if entry is None:
            return
        future, acc = entry
        if isinstance(ev, HeadersReceived):
            acc[0] = int(dict(ev.headers).get(b":status", b"0"))
        elif isinstance(ev, DataReceived):
            acc[1] += len(ev.data)
        if ev.stream_ended:
            del self._waiting[ev.stream_id]
            future.set_result((acc[0], acc[1]))

    async def get(self, path: str) -> tuple[int, int]:
        sid = self._quic.get_next_available_stream_id()
        future = asyncio.get_running_loop().create_future()
        self._waiting[sid] = (future, [0, 0])
        self.http.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"localhost"),
                                     (b":path", path.encode())], end_stream=True)
        self.transmit()
        return await future


async def drive(port: int, paths: list[str], connections: int, streams: int, seconds: float,
                seed: int) -> tuple[int, int, int, list[float], float]:
    """(requests, bytes, errors, latencies, load seconds) from ``connections`` x ``streams`` loops."""
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, verify_mode=ssl.CERT_NONE,
                               server_name="localhost")
    rng = random.Random(seed)
    stats = [0, 0, 0]
    latencies: list[float] = []

    async def one_connection() -> None:
        async with connect("127.0.0.1", port, configuration=config, create_protocol=LoadProtocol) as proto:
            deadline = time.perf_counter() + seconds

            async def loop_stream() -> None:
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    status, n = await asyncio.wait_for(proto.get(rng.choice(paths)), 60)
                    latencies.append(time.perf_counter() - t)
                    stats[0] += 1
                    stats[1] += n
                    stats[2] += status != 200

            await asyncio.gather(*(loop_stream() for _ in range(streams)))

    t = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return stats[0], stats[1], stats[2], latencies, time.perf_counter() - t


def client_process(port: int, count: int, connections: int, streams: int, seconds: float, seed: int,
                   out: mp.Queue) -> None:
    paths = list(make_objects(count))
    t = os.times()
    result = asyncio.run(drive(port, paths, connections, streams, seconds, seed))
    used = os.times()
    out.put((*result, used.user + used.system - t.user - t.system))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc), to compare servers' cost per byte."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def measure(ctx: mp.context.BaseContext, port: int, server_pids: list[int], args: argparse.Namespace
            ) -> dict[str, float]:
    out: mp.Queue = ctx.Queue()
    cpu0 = cpu_seconds(server_pids)
    procs = [ctx.Process(target=client_process, args=(port, args.objects, args.connections, args.streams,
                                                       args.seconds, i, out)) for i in range(args.clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=args.seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    server_cpu = cpu_seconds(server_pids) - cpu0
    client_cpu = sum(r[5] for r in results)
    # Each client times its own load (connect to last answer), so process start-up is not counted.
    mb_s = sum(r[1] / r[4] for r in results) / 1e6
    req_s = sum(r[0] / r[4] for r in results)
    lat = sorted(x for r in results for x in r[3])
    nbytes = sum(r[1] for r in results)
    return {"mb_s": mb_s, "req_s": req_s, "errors": sum(r[2] for r in results),
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
            "mb_per_cpu_s": nbytes / 1e6 / server_cpu if server_cpu else 0.0,
            "p50_ms": 1000 * statistics.median(lat) if lat else 0.0,
            "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else 0.0}


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="load time per measurement")
    ap.add_argument("--connections", type=int, default=2, help="QUIC connections per client process")
    ap.add_argument("--streams", type=int, default=8, help="GETs in flight per connection")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--objects", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[1], help="edge worker processes to try")
    ap.add_argument("--rounds", type=int, default=5, help="alternate the servers this many times")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    cert_dir = tempfile.mkdtemp(prefix="reelflow-bench-edge-")
    ensure_certificate(Path(cert_dir))
    sizes = [len(b) for b in make_objects(args.objects).values()]
    print(f"{os.cpu_count()} CPUs; {args.objects} objects, {min(sizes) // 1000}-{max(sizes) // 1000} KB "
          f"(mean {statistics.mean(sizes) / 1000:.0f} KB); load: {args.clients} client process(es) x "
          f"{args.connections} connections x {args.streams} streams, {args.seconds:.0f} s per run; "
          f"load average before {os.getloadavg()[0]:.2f}")

    servers: list[tuple[str, int, list[mp.Process]]] = []
    ready = ctx.Event()
    port = free_udp_port()
    bare = ctx.Process(target=run_bare_server, args=(port, cert_dir, args.objects, ready), daemon=True)
    bare.start()
    ready.wait(60)
    servers.append(("bare aioquic", port, [bare]))
    for n in args.workers:
        port = free_udp_port()
        procs = []
        for _ in range(n):
            ready = ctx.Event()
            p = ctx.Process(target=run_edge_worker, args=(port, cert_dir, args.objects, ready, n > 1), daemon=True)
            p.start()
            ready.wait(60)
            procs.append(p)
        servers.append((f"edge, {n} worker(s)", port, procs))
    try:
        # Warm every edge worker's cache: enough connections that the kernel spreads them over the workers.
        for _, port, procs in servers[1:]:
            paths = list(make_objects(args.objects))
            asyncio.run(drive(port, paths, 4 * len(procs), 4, 1.5, 99))
        rows: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in servers}
        for r in range(args.rounds):
            for name, port, procs in servers:
                m = measure(ctx, port, [p.pid for p in procs], args)
                rows[name].append(m)
                print(f"  round {r + 1}  {name:20s} {m['mb_s']:7.1f} MB/s {m['req_s']:7.1f} req/s  "
                      f"p50 {m['p50_ms']:6.1f} ms  p99 {m['p99_ms']:6.1f} ms  "
                      f"CPU s server {m['server_cpu_s']:4.1f} client {m['client_cpu_s']:4.1f}  "
                      f"errors {m['errors']:.0f}")
        # Medians: other work on a shared machine shows up as outlier rounds. "vs bare" pairs each round with
        # the bare server's run just before it, so slow drifts in that other load cancel out.
        bare = rows["bare aioquic"]
        print(f"\nmedians of {args.rounds} rounds; 'MB/CPU-s' is bytes served per second of server CPU, "
              "which other load on the machine disturbs less than MB/s; 'vs bare' is the median of per-round ratios")
        print(f"{'server':22s} {'MB/s':>8s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'MB/CPU-s':>9s} "
              f"{'vs bare':>8s}")
        for name, ms in rows.items():
            mb = statistics.median(m["mb_s"] for m in ms)
            paired = statistics.median(m["mb_s"] / b["mb_s"] for m, b in zip(ms, bare, strict=True))
            print(f"{name:22s} {mb:8.1f} {statistics.median(m['req_s'] for m in ms):8.1f} "
                  f"{statistics.median(m['p50_ms'] for m in ms):8.1f} "
                  f"{statistics.median(m['p99_ms'] for m in ms):8.1f} "
                  f"{statistics.median(m['mb_per_cpu_s'] for m in ms):9.1f} {paired:7.2f}x")
        print(f"load average after {os.getloadavg()[0]:.2f} (this machine is shared: other work shows up as noise)")
    finally:
        for _, _, procs in servers:
            for p in procs:
                p.terminate()
                p.join(5)


if __name__ == "__main__":
    main()
