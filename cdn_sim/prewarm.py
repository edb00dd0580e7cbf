"""Pre-warming: push the first seconds of *rising* videos to the POPs of the regions where they rise.

Why rising and not simply popular: a video that has been popular for hours is already at the edge (its
viewers keep it there); pushing it again costs nothing and gains nothing. What the edge cannot have yet
is the video whose audience is growing faster than its history: its next viewers at a POP would each
miss on the master playlist, the start rendition's playlist and init segment and the first segments,
exactly the requests that decide start-up time. So a video's signal is its *excess* rate:

    recent rate (views in the last interval / interval)  -  long-run rate (the decayed score as a rate)

and its *growth*, their ratio. Both come from one series the feed API already keeps: the per-region
trending score, a forward-decayed view count with half-life ``h`` (``trend:{region}`` in the live
store). Sampled at two moments ``elapsed`` apart, with ``D`` the scores in the units of their moment:

    fresh views  = D_now - D_then * 2 ** (-elapsed / h)
    recent rate  = fresh / elapsed
    long-run rate = D_now * ln 2 / h           (a steady rate r has D = r * h / ln 2)

A steadily viewed video has growth ~1 whatever its size; a video first seen in the interval has growth
``h / (elapsed * ln 2)`` (~100 for 12 h and 10 min). :func:`pick` keeps videos with enough fresh views
and growth, orders them by excess rate, and fills a byte budget per POP.

Everything here is pure: the DAG (``dags/prewarm_edges.py`` via ``jobs/prewarm.py``) feeds it the live
store's scores and calls the edge's push; the simulator (:func:`plan`) feeds it the trace's own past
views and replays the pushes (``reelflow cdn simulate --prewarm``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

from cdn_sim.topology import Topology
from cdn_sim.workload import AUDIO, SEGMENT_S, STRIDE, VARIANTS, Trace, object_id, object_sizes

MB = 1_000_000
LN2 = math.log(2)


@dataclass(frozen=True)
class Trend:
    """One video's demand in one region, from two samples of its decayed score."""

    video: Hashable
    fresh_views: float  # weighted views between the samples
    elapsed_s: float
    baseline_rate: float  # views per second the decayed score stands for

    @property
    def recent_rate(self) -> float:
        return self.fresh_views / self.elapsed_s

    @property
    def growth(self) -> float:
        return self.recent_rate / self.baseline_rate if self.baseline_rate > 0 else math.inf

    @property
    def excess_rate(self) -> float:
        """Demand the edge has not seen yet: the recent rate above the long-run one."""
        return max(0.0, self.recent_rate - self.baseline_rate)


def trends(then: Mapping[Hashable, float], now: Mapping[Hashable, float], elapsed_s: float,
           half_life_s: float) -> list[Trend]:
    """:class:`Trend` of every video in ``now`` (decayed scores ``elapsed_s`` apart, each in its own
    moment's units; a video missing from ``then`` had no score)."""
    if not elapsed_s > 0 or not half_life_s > 0:
        raise ValueError("elapsed_s and half_life_s must be positive")
    decay = 2.0 ** (-elapsed_s / half_life_s)
    out = []
    for video, score in now.items():
        fresh = max(0.0, score - then.get(video, 0.0) * decay)
        out.append(Trend(video, fresh, elapsed_s, score * LN2 / half_life_s))
    return out


@dataclass(frozen=True)
class PrewarmPolicy:
    """What counts as rising, and how much one run may push to each POP."""

    min_growth: float = 2.0  # recent rate at least twice the long-run rate
    min_fresh_views: float = 2.0  # and at least this many views in the region since the last run
    budget_bytes: int = 30 * MB  # per POP per run (about 20 video starts of 1.5 MB)
    max_videos: int = 20  # per region per run

    def __post_init__(self) -> None:
        if self.min_growth < 1 or self.min_fresh_views < 0 or self.budget_bytes < 0 or self.max_videos < 0:
            raise ValueError("min_growth >= 1; min_fresh_views, budget_bytes, max_videos >= 0")


def pick(candidates: list[Trend], cost: Callable[[Hashable], int] | Mapping[Hashable, int],
         policy: PrewarmPolicy = PrewarmPolicy(), exclude: frozenset[Hashable] | set[Hashable] = frozenset()
         ) -> list[Trend]:
    """The rising videos to push, most excess demand first, within ``policy.budget_bytes`` (``cost``: bytes
    a push of the video sends to one POP). Deterministic: ties go to the smaller ``str(video)``."""
    costs = cost.__getitem__ if isinstance(cost, Mapping) else cost
    rising = [t for t in candidates if t.video not in exclude and t.fresh_views >= policy.min_fresh_views
              and t.growth >= policy.min_growth]
    rising.sort(key=lambda t: (-t.excess_rate, str(t.video)))
    chosen: list[Trend] = []
    spent = 0
    for t in rising:
        if len(chosen) >= policy.max_videos:
            break
        c = int(costs(t.video))
        if spent + c <= policy.budget_bytes:  # one that does not fit may leave room for a smaller one
            chosen.append(t)
            spent += c
    return chosen


# -- the simulator's side ------------------------------------------------------------------------------

START_RENDITION = next(i for i, v in enumerate(VARIANTS) if v.name == "h264_720p")
"""The simulator's start rendition: the most chosen one (players start on the master's first variant;
Reelflow lists the rendition most phones settle on first)."""


@dataclass(frozen=True)
class SimPrewarm:
    """How the simulator runs the picker: every ``interval_s`` (the DAG's schedule), per region."""

    policy: PrewarmPolicy = PrewarmPolicy()
    interval_s: float = 600.0
    half_life_s: float = 12 * 3600.0  # the live trending score's (adapters.live_store.TREND_HALF_LIFE_S)
    renditions: tuple[int, ...] = (START_RENDITION,)
    segments: int = 2
    repush_after_s: float = 6 * 3600.0  # a video pushed to a region is not pushed there again before this


def start_objects(video: int, duration_s: float, renditions: tuple[int, ...], segments: int) -> list[int]:
    """Object ids a push of ``video`` sends: the master, then per rendition (audio included) its
    playlist, init segment and first ``segments`` segments (as many as the video has)."""
    n = min(segments, math.ceil(duration_s / SEGMENT_S))
    ids = [int(object_id(video, 0, -2))]
    for r in (*renditions, AUDIO):
        ids += [int(object_id(video, r, item)) for item in range(-1, n + 1)]
    return ids


@dataclass
class Pushes:
    """Pushes in time order (parallel arrays): at ``time_s``, ``obj`` (``size`` bytes) to POP ``pop``,
    with ``views``, the fresh views per POP of its region that made the video rise (the cache's hint)."""

    time_s: np.ndarray
    pop: np.ndarray
    obj: np.ndarray
    size: np.ndarray
    views: np.ndarray
    videos: int = 0  # (video, region) pushes
    log: list[tuple[float, str, int]] = field(default_factory=list, repr=False)  # (time, region, video)

    def __len__(self) -> int:
        return len(self.obj)


def plan(trace: Trace, topology: Topology, cfg: SimPrewarm = SimPrewarm()) -> Pushes:
    """The pushes the DAG would make over ``trace``: every ``cfg.interval_s``, per region, the trend of
    every video from the region's views so far (a view = a master playlist request), :func:`pick`, and a
    push of each chosen video's start objects to every POP of the region. Uses only the past."""
    n_videos = len(trace.video_duration_s)
    masters = trace.obj % STRIDE == 0
    vt, vr, vv = trace.time_s[masters], trace.region[masters], trace.obj[masters] // STRIDE
    end = float(trace.time_s[-1]) if len(trace) else 0.0
    ticks = np.arange(cfg.interval_s, end + cfg.interval_s, cfg.interval_s)
    decay = 2.0 ** (-cfg.interval_s / cfg.half_life_s)
    cost_cache: dict[int, tuple[list[int], np.ndarray]] = {}

    def objects(video: int) -> tuple[list[int], np.ndarray]:
        if video not in cost_cache:
            ids = start_objects(video, float(trace.video_duration_s[video]), cfg.renditions, cfg.segments)
            cost_cache[video] = ids, object_sizes(trace, np.array(ids, dtype=np.int64))
        return cost_cache[video]

    out_t: list[float] = []
    out_pop: list[int] = []
    out_obj: list[int] = []
    out_size: list[int] = []
    out_views: list[float] = []
    log: list[tuple[float, str, int]] = []
    for r, region in enumerate(trace.regions):
        members = [topology.pops.index(p) for p in topology.pops_in(region)]
        mine = vr == r
        t_r, v_r = vt[mine], vv[mine]
        bounds = np.searchsorted(t_r, ticks, side="right")
        score = np.zeros(n_videos)
        last_push: dict[int, float] = {}
        lo = 0
        for tick, hi in zip(ticks.tolist(), bounds.tolist(), strict=True):
            fresh = np.bincount(v_r[lo:hi], weights=2.0 ** (-(tick - t_r[lo:hi]) / cfg.half_life_s),
                                minlength=n_videos)
            lo = hi
            previous = score
            score = previous * decay + fresh
            seen = np.flatnonzero(fresh >= cfg.policy.min_fresh_views)
            if not len(seen):
                continue
            cands = trends({int(v): float(previous[v]) for v in seen}, {int(v): float(score[v]) for v in seen},
                           cfg.interval_s, cfg.half_life_s)
            recent = frozenset(v for v, at in last_push.items() if tick - at < cfg.repush_after_s)
            for t in pick(cands, lambda v: int(objects(v)[1].sum()), cfg.policy, recent):
                video = int(t.video)
                last_push[video] = tick
                log.append((tick, region, video))
                ids, sizes = objects(video)
                for p in members:
                    out_t += [tick] * len(ids)
                    out_pop += [p] * len(ids)
                    out_obj += ids
                    out_size += sizes.tolist()
                    out_views += [t.fresh_views / len(members)] * len(ids)
    order = np.argsort(np.array(out_t), kind="stable")
    return Pushes(np.array(out_t, dtype=np.float64)[order], np.array(out_pop, dtype=np.int16)[order],
                  np.array(out_obj, dtype=np.int64)[order], np.array(out_size, dtype=np.int64)[order],
                  np.array(out_views, dtype=np.float64)[order], len(log), sorted(log))
