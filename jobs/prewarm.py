"""Pre-warming run (the ``prewarm_edges`` DAG's one task): rising videos per region -> the edge's push.

Per region of the edge's topology: read the region's trending scores (``trend:{region}:*`` in the live
store: forward-decayed, weighted views; the feed API writes them on every interaction), convert them to
the current moment's units, compare with the scores this job saved at its previous run
(``prewarm:{region}``, a HASH with the sample time under ``_t``), and let :func:`cdn_sim.prewarm.pick`
choose the rising videos. Only discoverable videos are pushed (servable, public, clear with moderation:
what the trending feed itself would show), by their master playlist's key, to the region's POPs, with
only the start variant and the audio (``variants=1``) and the first two segments. A video pushed to a
region is remembered for ``REPUSH_AFTER_S`` (``prewarm:{region}:pushed``, a ZSET of push times).

The first run has no previous sample: it saves one and pushes nothing (growth needs two samples).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from sqlalchemy import select

from adapters import live_store
from adapters.edge_admin import EdgePusher
from catalog.db import session_scope
from catalog.models import SERVABLE_STATES, Moderation, Privacy, Video
from cdn_sim.prewarm import PrewarmPolicy, pick, trends
from cdn_sim.topology import Topology, default_topology

log = logging.getLogger(__name__)

POLICY = PrewarmPolicy()  # the simulator's (reelflow cdn simulate --prewarm)
START_BYTES = 1_500_000  # a push's bytes per POP, estimated: master, 720p playlist + init + 2 x 2 s, audio
REPUSH_AFTER_S = 6 * 3600
MAX_ELAPSED_S = 3600  # a previous sample older than this (the DAG was paused) is not a trend: start over
SCAN = 500  # top trending ids read per region


@dataclass
class RegionRun:
    region: str
    candidates: int = 0
    pushed: list[str] | None = None
    report: dict | None = None
    note: str = ""


def scores_now(r: redis.Redis, keys: live_store.Keys, region: str, now: float) -> dict[str, float]:
    """The region's decayed trending scores in ``now``'s units (this period's and the previous one's)."""
    h, period = live_store.TREND_HALF_LIFE_S, live_store.TREND_PERIOD_S
    current = r.zrevrange(keys.trend(region, now), 0, SCAN - 1, withscores=True)
    previous = r.zrevrange(keys.trend(region, now - period), 0, SCAN - 1, withscores=True)
    # Raw scores are weight x 2^((t - period start) / h): divide by the same factor at ``now``.
    now_factor = 2 ** ((now % period) / h)
    out: dict[str, float] = {}
    for vid, s in previous:
        v = vid.decode() if isinstance(vid, bytes) else vid
        out[v] = s / (now_factor * 2 ** (period / h))
    for vid, s in current:
        v = vid.decode() if isinstance(vid, bytes) else vid
        out[v] = out.get(v, 0.0) + s / now_factor
    return out


def discoverable_masters(session_factory: Callable, video_ids: Iterable[str]) -> dict[str, str]:
    """video id -> master playlist key (in the vod bucket) of those that are discoverable."""
    ids = list(video_ids)
    if not ids:
        return {}
    with session_scope(session_factory) as s:
        rows = s.execute(select(Video.id, Video.master_key).where(
            Video.id.in_(ids), Video.state.in_([st.value for st in SERVABLE_STATES]), Video.deleted_at.is_(None),
            Video.privacy == Privacy.PUBLIC.value, Video.moderation == Moderation.CLEAR.value,
            Video.master_key.is_not(None)))
        return {vid: key for vid, key in rows}


def run(r: redis.Redis, keys: live_store.Keys, session_factory: Callable, pusher: EdgePusher, *,
        bucket: str = "vod", topology: Topology | None = None, now: float | None = None,
        policy: PrewarmPolicy = POLICY) -> list[RegionRun]:
    """One pre-warming pass over every region of ``topology``; what each region did."""
    topology = topology or default_topology()
    now = time.time() if now is None else now
    out: list[RegionRun] = []
    for region in topology.regions:
        res = RegionRun(region)
        out.append(res)
        pops = [p.name for p in topology.pops_in(region)]
        state_key, pushed_key = f"{keys.p}prewarm:{region}", f"{keys.p}prewarm:{region}:pushed"
        current = scores_now(r, keys, region, now)
        saved = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in r.hgetall(state_key).items()}
        then_t = saved.pop("_t", None)
        pipe = r.pipeline()
        pipe.delete(state_key)
        pipe.hset(state_key, mapping={"_t": now, **current} if current else {"_t": now})
        pipe.expire(state_key, 2 * MAX_ELAPSED_S)
        pipe.execute()
        if then_t is None or not 0 < now - then_t <= MAX_ELAPSED_S:
            res.note = "first sample" if then_t is None else "previous sample too old or in the future"
            continue
        cands = trends(saved, current, now - then_t, live_store.TREND_HALF_LIFE_S)
        res.candidates = len(cands)
        r.zremrangebyscore(pushed_key, "-inf", now - REPUSH_AFTER_S)
        recent = {(m.decode() if isinstance(m, bytes) else m) for m in r.zrange(pushed_key, 0, -1)}
        masters = discoverable_masters(session_factory, [t.video for t in cands if t.video not in recent])
        allowed = [t for t in cands if t.video in masters]
        chosen = pick(allowed, lambda _v: START_BYTES, policy, frozenset(recent))
        res.pushed = [str(t.video) for t in chosen]
        if not chosen:
            continue
        # One push per region: the forecast hint is the mean fresh views per POP of what it pushes.
        views = sum(t.fresh_views for t in chosen) / len(chosen) / max(len(pops), 1)
        res.report = pusher.push_hls([f"/{bucket}/{masters[str(t.video)]}" for t in chosen], pops=pops,
                                     segments=2, variants=1, views=views)
        r.zadd(pushed_key, {str(t.video): now for t in chosen})
        r.expire(pushed_key, REPUSH_AFTER_S)
        log.info("prewarm %s: pushed %d videos to %s (%s bytes fetched)", region, len(chosen), ",".join(pops),
                 (res.report or {}).get("bytes"))
    return out


def summary(runs: list[RegionRun]) -> dict[str, object]:
    return {r.region: {"candidates": r.candidates, "pushed": r.pushed or [], "note": r.note,
                       "fetched_bytes": (r.report or {}).get("bytes", 0)} for r in runs}
