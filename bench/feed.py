"""Feed API latency under open-loop load at rising rates, beside a bare Starlette endpoint that returns a
cached page from Redis, in the same run and on the same machine.

What runs (all on loopback, one at a time so they never share the CPU with each other):
- a private redis-server on a free port (the machine's shared Redis is never touched) and a bench
  catalog database (``reelflow_bench_feed``) seeded with users, creators and videos;
- the real API (``feed_api.app:create_app``) under uvicorn, ``--workers`` processes (2: one per core),
  uvloop + httptools;
- the baseline: a bare Starlette app under the same uvicorn options whose one route GETs a feed page
  (captured from the real API) from Redis and returns it.

The load generator is open-loop: requests are sent on a fixed schedule whatever the server does, and
latency is measured from the scheduled send time, so queueing shows up instead of being hidden. It
speaks raw HTTP/1.1 over keep-alive connections from this process (uvloop) and shares the machine's
cores with the server: the figures are what one small box does with both, not the server alone.

Each request is For You page for one of the users, following its own cursor for a few pages, then
starting a new session. The API runs twice at the same rates: with the light ranker only
(``REELFLOW_FEED_RANKER=false``), then with the trained ranker (a two-tower model and a ranker fitted on
random views of the seeded catalog, published to a private SeaweedFS registry, a user vector per user in
Redis), so the two lines compare the model's cost on the same machine in the same run (``--no-model``
skips it). Finally Redis is stopped and the API keeps serving (trending from PostgreSQL).

Server CPU is the whole process tree's (the uvicorn supervisor and its workers).

    .venv/bin/python bench/feed.py [--rates 300,600,1000] [--seconds 8] [--goal-ms 25] [--goal-rate 1000]
                                   [--workers 2] [--no-model]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import redis
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog.db import drop_database, ensure_database, make_engine, make_sessionmaker, session_scope  # noqa: E402
from catalog.migrate import upgrade  # noqa: E402
from catalog.models import User, Video, utcnow  # noqa: E402
from config.settings import Settings  # noqa: E402
from feed_api.tokens import TokenSigner  # noqa: E402

BASELINE_KEY = "rfbench:baseline:page"
NEXT_CURSOR = re.compile(rb'"next_cursor":"([^"]+)"')
TAGS = [f"tag{i}" for i in range(40)]
REGIONS = ["eu", "us", "br", "in", "jp"]


# ------------------------------------------------------------------------------------------- baseline app
def baseline_app():
    """The floor: one Redis GET and the bytes back, nothing else (started by uvicorn --factory)."""
    import redis.asyncio as aredis
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    # The same kind of connection pool as the API's (feed_api/live.py), so neither side is handicapped.
    r = aredis.Redis(connection_pool=aredis.BlockingConnectionPool.from_url(os.environ["REELFLOW_REDIS_URL"],
                                                                          max_connections=64, timeout=2))

    async def page(_request):
        return Response(await r.get(BASELINE_KEY), media_type="application/json")

    return Starlette(routes=[Route("/v1/feed", page)])


# ------------------------------------------------------------------------------------------- services
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit("redis-server is not installed (./dev setup installs it)")
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: redis.Redis(port=port).ping())
    return proc


def wait_for(check, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - anything means "not yet"
            pass
        if time.monotonic() > deadline:
            raise SystemExit("a service did not come up in time")
        time.sleep(0.1)


def start_uvicorn(target: str, port: int, env: dict[str, str], app_dir: Path, workers: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning", "--app-dir", str(app_dir)]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT)
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/v1/feed", timeout=2).status_code in (200, 401))
    return proc


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and its descendants (uvicorn's workers), live ones' own time."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo += _children(p)
    return total


# ------------------------------------------------------------------------------------------- seed
def seed(url: str, users: int, creators: int, videos: int, rng: random.Random) -> list[str]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = utcnow()
    with session_scope(sessions) as s:
        people = [User(id=f"{i:016x}", handle=f"bench_{i}", display_name=f"Bench {i}", region=rng.choice(REGIONS),
                       interests=rng.sample(TAGS, 3), created_at=now) for i in range(users + creators)]
        s.add_all(people)
        s.flush()
        creator_ids = [p.id for p in people[users:]]
        rows = []
        for i in range(videos):
            vid = f"{0xB000000000000000 + i:016x}"
            tags = rng.sample(TAGS, rng.randint(1, 3))
            ready = now - timedelta(hours=rng.uniform(0, 24 * 7))
            views = int(rng.paretovariate(1.2) * 50)
            prefix = f"v/{vid}/p1"
            rows.append(Video(
                id=vid, creator_id=rng.choice(creator_ids), caption=f"bench clip {i} #" + " #".join(tags),
                hashtags=tags, tag_keys=tags, privacy="public" if rng.random() > 0.05 else "private",
                sound_id=f"snd{rng.randrange(300)}", category=f"cat{rng.randrange(12)}", region=rng.choice(REGIONS),
                state="ready", raw_key=f"uploads/{vid}/source", master_key=f"{prefix}/master.m3u8",
                poster_key=f"{prefix}/thumbs/poster_720.jpg", publish_prefix=prefix, created_at=ready,
                updated_at=ready, playable_at=ready, ready_at=ready, view_count=views,
                like_count=int(views * rng.uniform(0, 0.2)),
                comment_count=int(views * rng.uniform(0, 0.03)), share_count=int(views * rng.uniform(0, 0.02)),
                completions=int(views * rng.uniform(0.1, 0.6)), source={"duration_s": rng.uniform(5, 60)}))
        s.add_all(rows)
    engine.dispose()
    return [p.id for p in people[:users]]


# ------------------------------------------------------------------------------------------- models
def publish_models(work: Path, env: dict[str, str], users: list[str], db_url: str,
                   rng: random.Random) -> tuple[str, subprocess.Popen]:
    """Start a private S3 registry, fit a two-tower model on random views of the catalog (1 epoch: latency
    does not depend on what the weights learned) and a ranker over its vectors, publish both and write each
    user's vector to the bench Redis. Returns the ranker version and the S3 server (stop its process group).
    Adds the S3 settings to ``env``."""
    from sqlalchemy import select

    from adapters import live_store
    from adapters.model_registry import ModelRegistry
    from adapters.s3 import OriginConfig, OriginStore
    from recommend.blended_ranking import write_lineage
    from recommend.data import Interactions
    from recommend.ranker import Ranker, RankerConfig, RankerFeatures, region_vocabulary
    from recommend.two_tower import TwoTower
    from reelflow.s3server import start_seaweed, wait_ready

    port, key, secret = free_port(), "bench-access", "bench-secret-key"
    env.update({"REELFLOW_S3_ENDPOINT": f"http://127.0.0.1:{port}", "REELFLOW_S3_ACCESS_KEY": key,
                "REELFLOW_S3_SECRET_KEY": secret, "REELFLOW_HOME": str(work / "home")})
    s3 = start_seaweed(work / "s3", port, key, secret, work / "s3.log")
    wait_ready(env["REELFLOW_S3_ENDPOINT"], s3, timeout_s=60)
    engine = make_engine(db_url)
    with session_scope(make_sessionmaker(engine)) as s:
        videos = list(s.scalars(select(Video.id).where(Video.privacy == "public")))
    engine.dispose()
    views = [(u, rng.choice(videos), float(t)) for u in users for t in range(30)]
    data = Interactions.from_ids(*zip(*views, strict=True))
    tt = TwoTower()
    tt.fit(data, epochs=1)
    tt.save(work / "tt")
    d = tt.vector_dim
    ranker = Ranker(RankerConfig(user_dim=d, item_dim=d), regions=region_vocabulary(REGIONS, 16))
    n = 4096
    nr = np.random.default_rng(0)
    feats = RankerFeatures(nr.normal(size=(n, d)).astype(np.float32), nr.normal(size=(n, d)).astype(np.float32),
                           nr.integers(0, 24, n), nr.integers(0, 5, n), nr.normal(size=(n, 4)).astype(np.float32))
    ranker.fit(feats, (nr.random(n) < 0.3).astype(np.float32), (nr.random(n) < 0.1).astype(np.float32), epochs=1)
    ranker.save(work / "rk")
    write_lineage(work / "rk", "bench-tt")
    reg = ModelRegistry(OriginStore(OriginConfig(env["REELFLOW_S3_ENDPOINT"], key, secret)))
    reg.publish("two_tower", work / "tt", "bench-tt")
    reg.publish("ranker", work / "rk", "bench-rk", meta={"two_tower": "bench-tt"})
    vecs = tt.user_vectors(tt.user_index(users, strict=False), np.full((len(users), tt.config.history_len), -1))
    r = redis.Redis.from_url(env["REELFLOW_REDIS_URL"])
    live_store.write_user_vectors(r, live_store.Keys(env["REELFLOW_REDIS_PREFIX"]), zip(users, vecs, strict=True),
                            version="bench-tt", ttl_s=86400)
    print(f"published two-tower ({len(data.item_ids)} of {len(videos)} videos known) and ranker to S3 on :{port}; "
          f"{len(users)} user vectors in Redis", flush=True)
    return "bench-rk", s3


# ------------------------------------------------------------------------------------------- load generator
@dataclass
class StepResult:
    offered: float
    sent: int
    ok: int
    errors: int  # not answered 200, the shed ones included
    shed: int
    duration_s: float
    latencies_ms: np.ndarray
    server_cpu_s: float

    @property
    def achieved(self) -> float:
        return self.ok / self.duration_s

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else float("nan")


class Loader:
    """Open-loop HTTP/1.1 load over a pool of keep-alive connections."""

    def __init__(self, port: int, tokens: list[str], *, pages_per_session: int = 5, max_conns: int = 256) -> None:
        self.port, self.tokens = port, tokens
        self.pages_per_session, self.max_conns = pages_per_session, max_conns
        self.idle: deque = deque()
        self.open = 0
        self.cursor: dict[int, tuple[bytes, int]] = {}
        self.next_user = 0
        self.failures: list[str] = []
        self.shed = 0  # 503 overloaded: refused on purpose, counted apart from failures

    async def _conn(self):
        # Newest idle connection first; ones idle for 2 s are dropped before uvicorn's 5 s keep-alive timeout
        # can close them under us (the race every HTTP client has to avoid).
        now = time.perf_counter()
        while self.idle:
            reader, writer, used = self.idle.pop()
            if now - used < 2.0:
                return reader, writer
            writer.close()
            self.open -= 1
        self.open += 1
        return await asyncio.open_connection("127.0.0.1", self.port)

    def _request(self, user: int) -> bytes:
        path = b"/v1/feed?limit=10"
        state = self.cursor.get(user)
        if state:
            path += b"&cursor=" + state[0]
        return (b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + self.tokens[user].encode()
                + b"\r\n\r\n")

    async def fire(self, user: int, scheduled: float, out: list, loop) -> bool:
        try:
            reader, writer = await self._conn()
        except OSError:
            self.open -= 1
            return False
        try:
            writer.write(self._request(user))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            body = await asyncio.wait_for(reader.readexactly(length), 5)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, AttributeError) as exc:
            self.failures.append(f"transport: {type(exc).__name__} {exc}")
            writer.close()
            self.open -= 1
            return False
        took_ms = (time.perf_counter() - scheduled) * 1000
        self.idle.append((reader, writer, time.perf_counter()))
        ok = head.startswith(b"HTTP/1.1 200")
        if ok:  # percentiles are over served pages only: a fast 503 must not flatter them
            out.append(took_ms)
        if head.startswith(b"HTTP/1.1 503"):
            self.shed += 1
        elif not ok:
            self.failures.append(head.split(b"\r\n", 1)[0].decode() + " " + body[:200].decode(errors="replace"))
        if ok:
            m = NEXT_CURSOR.search(body)
            pages = self.cursor.get(user, (b"", 0))[1] + 1
            if m and pages < self.pages_per_session:
                self.cursor[user] = (m.group(1), pages)
            else:
                self.cursor.pop(user, None)  # a new session next time
        return ok

    async def step(self, rate: float, seconds: float, server_pid: int) -> StepResult:
        loop = asyncio.get_running_loop()
        n = int(rate * seconds)
        lat: list[float] = []
        tasks = []
        cpu0 = cpu_seconds(server_pid)
        # perf_counter, not loop.time(): uvloop's clock has millisecond steps.
        start = time.perf_counter() + 0.05
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            user = self.next_user % len(self.tokens)
            self.next_user += 1
            tasks.append(loop.create_task(self.fire(user, scheduled, lat, loop)))
        results = await asyncio.gather(*tasks)
        duration = time.perf_counter() - start
        ok = sum(results)
        shed, self.shed = self.shed, 0
        return StepResult(rate, n, ok, n - ok, shed, max(duration, seconds), np.array(lat),
                          cpu_seconds(server_pid) - cpu0)

    async def close(self) -> None:
        while self.idle:
            _, w, _ = self.idle.pop()
            w.close()


async def run_rates(port: int, tokens: list[str], rates: list[float], seconds: float, pid: int,
                    label: str) -> list[StepResult]:
    loader = Loader(port, tokens)
    # Warm-up, not measured: one page per user (builds every user's pool once), then caches and connections.
    await loader.step(100, len(tokens) / 100, pid)
    await loader.step(100, 2, pid)
    out = []
    for rate in rates:
        res = await loader.step(rate, seconds, pid)
        out.append(res)
        if loader.failures:
            print(f"  first failure: {loader.failures[0]}", flush=True)
            loader.failures.clear()
        cpu_ms = res.server_cpu_s / max(res.ok, 1) * 1000
        print(f"  {label:9} {rate:6.0f}/s  achieved {res.achieved:6.1f}/s  p50 {res.pct(50):7.2f} ms  "
              f"p99 {res.pct(99):8.2f} ms  errors {res.errors:5d} (shed {res.shed:5d})  "
              f"server CPU {cpu_ms:5.2f} ms/req", flush=True)
        await asyncio.sleep(0.5)
    await loader.close()
    return out


def sustained(results: list[StepResult], goal_ms: float) -> tuple[float, float]:
    """(highest rate with p99 <= goal and no errors, highest rate served without a backlog)."""
    within = [r.offered for r in results if r.errors == 0 and r.pct(99) <= goal_ms]
    served = [r.offered for r in results if r.errors == 0 and r.achieved >= 0.97 * r.offered and r.pct(99) < 1000]
    return max(within, default=0.0), max(served, default=0.0)


# ------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="300,600,1000", help="requests per second, comma-separated")
    ap.add_argument("--seconds", type=float, default=8.0, help="per rate")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--videos", type=int, default=3000)
    ap.add_argument("--goal-ms", type=float, default=25.0)
    ap.add_argument("--goal-rate", type=float, default=1000.0, help="the rate the goal p99 is checked at")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes, API and baseline alike")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--no-model", action="store_true", help="skip the run with the trained ranker")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    rng = random.Random(7)

    base = Settings()
    db_url = base.database_url.rsplit("/", 1)[0] + "/reelflow_bench_feed"
    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-feed-"))
    redis_port, api_port, base_port = free_port(), free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    procs: list[subprocess.Popen] = []
    s3_proc: subprocess.Popen | None = None
    try:
        drop_database(db_url)
        ensure_database(db_url)
        upgrade(db_url)
        print(f"seeding {args.users} users, 100 creators, {args.videos} videos ...", flush=True)
        users = seed(db_url, args.users, 100, args.videos, rng)
        redis_proc = start_redis(redis_port, work)
        procs.append(redis_proc)
        env = {"REELFLOW_DATABASE_URL": db_url, "REELFLOW_REDIS_URL": redis_url, "REELFLOW_REDIS_PREFIX": "rfb:",
               "REELFLOW_RATE_LIMIT_PER_S": "100000", "REELFLOW_RATE_LIMIT_BURST": "100000",
               "REELFLOW_AIRFLOW_URL": "http://127.0.0.1:1", "REELFLOW_EDGE_ADMIN_URL": "http://127.0.0.1:1",
               "REELFLOW_API_SECRET": secrets.token_urlsafe(32)}  # a production configuration: no dev tokens
        signer = TokenSigner(env["REELFLOW_API_SECRET"], 86400)
        tokens = [signer.issue(u) for u in users]
        cores = os.cpu_count()
        print(f"machine: {cores} cores shared by the load generator and the server ({args.workers} uvicorn "
              f"workers); {args.seconds:g} s per rate; latency from the scheduled send time (open loop); load "
              f"average {os.getloadavg()[0]:.2f} at the start\n", flush=True)

        # The real API first (it also provides the page the baseline serves).
        api = start_uvicorn("feed_api.app:create_app", api_port, {**env, "REELFLOW_FEED_RANKER": "false"}, ROOT,
                            args.workers)
        procs.append(api)
        page = httpx.get(f"http://127.0.0.1:{api_port}/v1/feed", params={"limit": 10},
                         headers={"Authorization": f"Bearer {tokens[0]}"}).content
        assert json.loads(page)["items"], "the seeded feed is empty"
        print("real feed API, light ranker (For You: pool, profile, ranking, diversity, seen set, cards, live stats):")
        real = uvloop.run(run_rates(api_port, tokens, rates, args.seconds, api.pid, "feed"))
        model: list[StepResult] = []
        if not args.no_model:
            api.terminate()
            api.wait(timeout=20)
            procs.remove(api)
            version, s3_proc = publish_models(work, env, users, db_url, rng)
            api = start_uvicorn("feed_api.app:create_app", api_port, {**env, "REELFLOW_FEED_RANKER": "true"}, ROOT,
                                args.workers)
            procs.append(api)
            # Every worker loads it in the background (TensorFlow import, S3 fetch); a scrape reaches one of
            # them, so wait until many scrapes in a row (over new connections) all see it.
            wait_for(lambda: all(f'ranker_version="{version}"' in httpx.get(f"http://127.0.0.1:{api_port}/metrics").text
                                 for _ in range(8 * args.workers)), timeout_s=180)
            print("\nreal feed API, trained ranker (the same plus the user vector, item vectors, one TFLite call):")
            model = uvloop.run(run_rates(api_port, tokens, rates, args.seconds, api.pid, "model"))
            metrics = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=60).text
            ranked = dict(re.findall(r'reelflow_feed_ranked_pages_total\{ranker="(\w+)"\} (\S+)', metrics))
            print(f"  pages per ranker (one worker's count): {ranked}", flush=True)

        print("\nRedis stopped mid-run (the API falls back to trending from PostgreSQL):")
        redis_proc.kill()
        redis_proc.wait()
        down = uvloop.run(run_rates(api_port, tokens, [min(rates[0], 100.0)], args.seconds, api.pid, "no redis"))
        api.terminate()
        api.wait(timeout=20)
        procs.remove(api)

        redis_proc = start_redis(redis_port, work)
        procs.append(redis_proc)
        redis.Redis(port=redis_port).set(BASELINE_KEY, page)
        bare = start_uvicorn("feed:baseline_app", base_port, env, ROOT / "bench", args.workers)
        procs.append(bare)
        print("\nbaseline: bare Starlette endpoint returning a cached page from Redis:")
        baseline = uvloop.run(run_rates(base_port, tokens, rates, args.seconds, bare.pid, "baseline"))

        goal = args.goal_ms
        (r_goal, r_served), (b_goal, b_served) = sustained(real, goal), sustained(baseline, goal)
        print("\n== summary ==")
        print(f"{'rate/s':>8} {'feed p50':>10} {'feed p99':>10} {'model p50':>10} {'model p99':>10} "
              f"{'base p50':>10} {'base p99':>10}   (ms; feed = light ranker, model = trained ranker)")
        for i, (r, b) in enumerate(zip(real, baseline, strict=True)):
            m50, m99 = (model[i].pct(50), model[i].pct(99)) if model else (float("nan"), float("nan"))
            print(f"{r.offered:8.0f} {r.pct(50):10.2f} {r.pct(99):10.2f} {m50:10.2f} {m99:10.2f} {b.pct(50):10.2f} "
                  f"{b.pct(99):10.2f}")
        if model:
            cpu = [(m.server_cpu_s / max(m.ok, 1) - r.server_cpu_s / max(r.ok, 1)) * 1000
                   for m, r in zip(model, real, strict=True)]
            light_cpu = np.median([r.server_cpu_s / max(r.ok, 1) * 1000 for r in real])
            print(f"trained ranker: server CPU {np.median(cpu):+.2f} ms per page (median over rates; "
                  f"{np.median(cpu) / light_cpu:+.0%} of the light path's {light_cpu:.2f} ms); "
                  f"highest rate with p99 <= {args.goal_ms:g} ms: {sustained(model, args.goal_ms)[0]:.0f}/s")
        print(f"highest rate with p99 <= {goal:g} ms: feed {r_goal:.0f}/s, baseline {b_goal:.0f}/s")
        print(f"highest rate served without backlog: feed {r_served:.0f}/s, baseline {b_served:.0f}/s")
        for label, results in (("light", real), ("model", model)):
            at = next((r for r in results if r.offered == args.goal_rate), None)
            if at is not None:
                verdict = "meets" if at.pct(99) <= goal and at.errors == 0 else "misses"
                print(f"goal p99 <= {goal:g} ms at {args.goal_rate:g}/s, {label} ranker: {verdict} "
                      f"({at.pct(99):.2f} ms, {at.errors} errors)")
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        d = down[0]
        print(f"Redis down: {d.ok}/{d.sent} feeds served at {d.offered:.0f}/s, p50 {d.pct(50):.2f} ms, "
              f"p99 {d.pct(99):.2f} ms, errors {d.errors}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if s3_proc is not None:
            from reelflow.s3server import stop_process_group

            stop_process_group(s3_proc.pid)
        if not args.keep_db:
            drop_database(db_url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
