"""Trace-driven simulation of the CDN hierarchy: edge POPs -> regional tier -> origin shield -> origin.

Routing follows :func:`cdn_sim.topology.default_topology` (or any topology whose regions match the
trace): a request goes to one POP of its region, chosen by a hash of the client so a viewer's session
stays on one POP; an edge miss goes to the region's regional cache; a regional miss to the single
origin shield; a shield miss is origin egress.

The simulation runs level by level. A tier's misses, in time order, are exactly the next tier's input,
so each cache (and Belady's MIN in particular, which needs the future) sees the precise request stream
it would see in production. Every policy gets the same topology and sizes. Everything here is a pure
function over arrays; the only I/O in the simulator is the optional plot (:mod:`cdn_sim.plot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cdn_sim.belady import belady_replay
from cdn_sim.cache import POLICIES, CacheStats, check_capacity, make_cache
from cdn_sim.prewarm import Pushes
from cdn_sim.topology import Topology, default_topology
from cdn_sim.workload import STRIDE, Trace, mix64

OFFLINE = ("belady",)
ALL_POLICIES: tuple[str, ...] = (*POLICIES, *OFFLINE)
TIERS: tuple[str, ...] = ("edge", "regional", "shield")
ORIGIN = len(TIERS)  # served_by value of a request that reached the origin
MB = 1_000_000
GB = 1_000_000_000


@dataclass(frozen=True)
class CacheSizes:
    """Bytes per cache instance: each POP's edge, each region's regional cache, the one shield."""

    edge: int
    regional: int
    shield: int

    def __post_init__(self) -> None:
        for name in ("edge", "regional", "shield"):
            try:
                check_capacity(getattr(self, name))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} cache size: {exc}") from None

    def scaled(self, factor: float) -> CacheSizes:
        return CacheSizes(max(1, int(self.edge * factor)), max(1, int(self.regional * factor)),
                          max(1, int(self.shield * factor)))


@dataclass
class TierResult:
    requests: int = 0
    hits: int = 0
    bytes: int = 0
    hit_bytes: int = 0

    @property
    def object_hit_ratio(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def byte_hit_ratio(self) -> float:
        return self.hit_bytes / self.bytes if self.bytes else 0.0


@dataclass
class PolicyResult:
    policy: str
    tiers: dict[str, TierResult]
    client_requests: int
    client_bytes: int
    origin_requests: int
    origin_egress_bytes: int
    served_by: np.ndarray = field(repr=False)  # per trace request: 0 edge, 1 regional, 2 shield, 3 origin
    instances: dict[str, CacheStats] = field(default_factory=dict, repr=False)  # per cache, whole trace
    push_fetched_bytes: int = 0  # pre-warming: bytes the POPs fetched to be pushed (after the warm-up)
    push_origin_bytes: int = 0  # ... of which the origin sent (included in origin_egress_bytes)

    @property
    def edge_regional_hit_ratio(self) -> float:
        """Share of client requests answered without reaching the shield."""
        shield = self.tiers["shield"].requests
        return 1 - shield / self.client_requests if self.client_requests else 0.0

    @property
    def edge_regional_byte_hit_ratio(self) -> float:
        shield = self.tiers["shield"].bytes
        return 1 - shield / self.client_bytes if self.client_bytes else 0.0

    @property
    def origin_offload(self) -> float:
        """Share of client bytes the origin did not have to send."""
        return 1 - self.origin_egress_bytes / self.client_bytes if self.client_bytes else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "tiers": {name: {"requests": t.requests, "hits": t.hits, "bytes": t.bytes, "hit_bytes": t.hit_bytes,
                             "object_hit_ratio": t.object_hit_ratio, "byte_hit_ratio": t.byte_hit_ratio}
                      for name, t in self.tiers.items()},
            "edge_regional_hit_ratio": self.edge_regional_hit_ratio,
            "edge_regional_byte_hit_ratio": self.edge_regional_byte_hit_ratio,
            "client_requests": self.client_requests,
            "client_bytes": self.client_bytes,
            "origin_requests": self.origin_requests,
            "origin_egress_bytes": self.origin_egress_bytes,
            "push_fetched_bytes": self.push_fetched_bytes,
            "push_origin_bytes": self.push_origin_bytes,
        }


# Default sizes, against the default workload's 25 GB catalog (every rendition of every video) and its
# daily working sets (unique bytes requested in a day: 6-8 GB per POP, 9-10.5 GB per region, 16 GB in
# all): edge 2 GB per POP (8 % of the catalog, ~30 % of a POP's day), regional 8 GB per region (32 %,
# ~80 % of a region's day), shield 16 GB (64 %, about one day of everything). Capacity grows up the
# hierarchy (1:4:8): small fast edges in front of larger, cheaper tiers.
DEFAULT_SIZES = CacheSizes(2 * GB, 8 * GB, 16 * GB)
# The short-video workload (cdn_sim.workload.short_video_config) at the same shares of its own daily
# working sets: 11.8 GB per POP, 19.5 GB per region, 44.4 GB in all (seed 1). Edge 28 % of a POP's day,
# regional 83 % of a region's, shield 104 % of everything's. Fixed from the working sets alone, before
# any policy was run on the workload (issue: cache sizes fixed before looking at results).
SHORT_VIDEO_SIZES = CacheSizes(3_400 * MB, 16_000 * MB, 46_000 * MB)
DEFAULT_WARMUP_S = 86_400.0  # the default trace's first day only warms the caches
GOAL_HIT_RATIO = 0.95  # issue 4: edge+regional at the default sizes ...
GOAL_BELADY_GAP = 0.03  # ... and within 3 points of Belady


def goal_report(results: dict[str, PolicyResult], target: float = GOAL_HIT_RATIO,
                max_gap: float = GOAL_BELADY_GAP) -> dict[str, dict[str, object]]:
    """Per online policy: its edge+regional hit ratio, whether it reaches ``target``, and its distance
    to Belady's (when Belady was simulated)."""
    reference = results["belady"].edge_regional_hit_ratio if "belady" in results else None
    out: dict[str, dict[str, object]] = {}
    for policy, res in results.items():
        if policy in OFFLINE:
            continue
        ratio = res.edge_regional_hit_ratio
        gap = None if reference is None else reference - ratio
        out[policy] = {"edge_regional_hit_ratio": ratio, "meets_target": ratio >= target,
                       "gap_to_belady": gap, "within_gap": None if gap is None else gap <= max_gap}
    return out


def parse_policies(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"lru,s3fifo,belady"`` -> a checked, de-duplicated tuple."""
    names = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text)]
    names = [p for p in dict.fromkeys(names) if p]
    if not names:
        raise ValueError("no cache policy given")
    unknown = [p for p in names if p not in ALL_POLICIES]
    if unknown:
        raise ValueError(f"unknown cache policy {', '.join(map(repr, unknown))}; known: {', '.join(ALL_POLICIES)}")
    return tuple(names)


def pop_assignment(trace: Trace, topology: Topology) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per request, the index of its edge POP in ``topology.pops``; and the POP names."""
    pops = topology.pops
    out = np.empty(len(trace), dtype=np.int16)
    bucket = mix64(trace.client)  # the client's hash decides which of the region's POPs it reaches
    for r, name in enumerate(trace.regions):
        if name not in topology.regions:
            raise ValueError(f"trace region {name!r} is not in the topology ({', '.join(topology.regions)})")
        members = np.array([pops.index(p) for p in topology.pops_in(name)], dtype=np.int16)
        mask = trace.region == r
        out[mask] = members[(bucket[mask] % np.uint64(len(members))).astype(np.int64)]
    return out, tuple(p.name for p in pops)


def _replay(policy: str, capacity: int, keys: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, CacheStats]:
    if policy == "belady":
        stats = CacheStats()
        return belady_replay(keys, sizes, capacity, stats), stats
    cache = make_cache(policy, capacity)
    hits = np.fromiter(cache.replay(keys.tolist(), sizes.tolist()), dtype=bool, count=len(keys))
    return hits, cache.stats


def _edge_with_pushes(policy: str, capacity: int, idx: np.ndarray, keys: np.ndarray, sizes: np.ndarray,
                      pushes: Pushes, mine: np.ndarray, push_at: np.ndarray
                      ) -> tuple[np.ndarray, CacheStats, np.ndarray]:
    """One POP's cache over its client requests (trace indices ``idx``) with pushes ``mine`` (indices into
    ``pushes``) applied before the request at trace index ``push_at``. Hit flags, stats, and per push
    whether the edge fetched it (it was not cached yet)."""
    cache = make_cache(policy, capacity)
    hits = np.zeros(len(idx), dtype=bool)
    fetched = np.zeros(len(mine), dtype=bool)
    cut = np.searchsorted(idx, push_at[mine], side="left")
    a = 0
    for j, (b, k, z, v) in enumerate(zip(cut.tolist(), pushes.obj[mine].tolist(), pushes.size[mine].tolist(),
                                         pushes.views[mine].tolist(), strict=True)):
        if b > a:
            hits[a:b] = cache.replay(keys[a:b].tolist(), sizes[a:b].tolist())
            a = b
        cache.hint(k, v)
        if k not in cache:
            fetched[j] = cache.put(k, True, z)
    if a < len(idx):
        hits[a:] = cache.replay(keys[a:].tolist(), sizes[a:].tolist())
    return hits, cache.stats, fetched


def simulate_policy(trace: Trace, policy: str, sizes: CacheSizes, topology: Topology | None = None, *,
                    warmup_s: float = 0.0, pops: np.ndarray | None = None,
                    edge_policy: str | None = None, pushes: Pushes | None = None) -> PolicyResult:
    """Run one policy at every tier over ``trace`` (``edge_policy``, when given, at the edge instead).

    Caches start empty; requests before ``warmup_s`` warm them but are left out of the results.
    ``pushes`` (:func:`cdn_sim.prewarm.plan`): objects put into POPs' caches between requests; an object a
    POP did not hold is fetched through the chain like a miss (its regional/shield misses are origin
    egress, counted in ``origin_egress_bytes`` and ``push_origin_bytes``), one it held costs nothing.
    """
    topology = topology or default_topology()
    if pops is None:
        pops, _ = pop_assignment(trace, topology)
    n = len(trace)
    keys, size = trace.obj, trace.size
    served_by = np.full(n, ORIGIN, dtype=np.int8)
    instances: dict[str, CacheStats] = {}
    region_of_pop = np.array([trace.regions.index(p.region) if p.region in trace.regions else -1
                              for p in topology.pops])
    # Pushes happen after every request up to their time: before the request at trace index push_at.
    m = 0 if pushes is None else len(pushes)
    push_at = np.searchsorted(trace.time_s, pushes.time_s, side="right") if pushes is not None and m \
        else np.zeros(0, dtype=np.int64)
    push_up = np.zeros(m, dtype=bool)  # fetched by its edge, so sent up the chain

    # Edge: each POP its own cache over its own clients' requests.
    pending = np.ones(n, dtype=bool)  # requests not answered yet
    for i, pop in enumerate(topology.pops):
        idx = np.flatnonzero(pops == i)
        mine = np.flatnonzero(pushes.pop == i) if pushes is not None and m else np.zeros(0, dtype=np.int64)
        if len(mine):
            assert pushes is not None
            hits, instances[pop.name], fetched = _edge_with_pushes(edge_policy or policy, sizes.edge, idx, keys[idx],
                                                                   size[idx], pushes, mine, push_at)
            push_up[mine[fetched]] = True
        else:
            hits, instances[pop.name] = _replay(edge_policy or policy, sizes.edge, keys[idx], size[idx])
        served_by[idx[hits]] = 0
        pending[idx[hits]] = False
    # Upstream streams: client requests (tag = trace index) and fetched pushes (tag = -1 - push index),
    # in time order; a push sorts just before the request it precedes (order key 2 * index, 2 * index - 1).
    ups = np.flatnonzero(push_up)
    assert pushes is not None or not len(ups)
    up_tag = np.concatenate([np.arange(n, dtype=np.int64), -1 - ups])
    up_key = np.concatenate([keys, pushes.obj[ups] if len(ups) else keys[:0]])  # type: ignore[union-attr]
    up_size = np.concatenate([size, pushes.size[ups] if len(ups) else size[:0]])  # type: ignore[union-attr]
    up_region = np.concatenate([region_of_pop[pops], region_of_pop[pushes.pop[ups]] if len(ups)  # type: ignore[union-attr]
                                else np.zeros(0, dtype=np.int64)])
    up_order = np.concatenate([2 * np.arange(n, dtype=np.int64), 2 * push_at[ups] - 1])
    up_pending = np.concatenate([pending, np.ones(len(ups), dtype=bool)])
    by_time = np.argsort(up_order, kind="stable")

    def answer(sel: np.ndarray, level: int, label: str, capacity: int) -> None:
        hits, instances[label] = _replay(policy, capacity, up_key[sel], up_size[sel])
        answered = sel[hits]
        up_pending[answered] = False
        clients = up_tag[answered]
        served_by[clients[clients >= 0]] = level

    # Regional: the misses of a region's POPs (and its pushes), merged in time order.
    for r, name in enumerate(trace.regions):
        answer(by_time[up_pending[by_time] & (up_region[by_time] == r)], 1, f"regional-{name}", sizes.regional)
    # Shield: every regional miss.
    answer(by_time[up_pending[by_time]], 2, "shield", sizes.shield)

    counted = trace.time_s >= warmup_s
    sb, sz = served_by[counted], size[counted]
    tiers: dict[str, TierResult] = {}
    for level, name in enumerate(TIERS):
        reached = sb >= level
        hit = sb == level
        tiers[name] = TierResult(int(reached.sum()), int(hit.sum()), int(sz[reached].sum()), int(sz[hit].sum()))
    origin = sb == ORIGIN
    pushed = push_origin = 0
    if len(ups):
        assert pushes is not None
        in_window = pushes.time_s[ups] >= warmup_s
        pushed = int(pushes.size[ups][in_window].sum())
        to_origin = up_pending[n:] & in_window
        push_origin = int(pushes.size[ups][to_origin].sum())
    return PolicyResult(policy, tiers, int(counted.sum()), int(sz.sum()), int(origin.sum()),
                        int(sz[origin].sum()) + push_origin, served_by, instances, pushed, push_origin)


def simulate(trace: Trace, policies: Sequence[str], sizes: CacheSizes, topology: Topology | None = None, *,
             warmup_s: float = 0.0) -> dict[str, PolicyResult]:
    """:func:`simulate_policy` for each policy, same trace, topology and sizes."""
    topology = topology or default_topology()
    names = parse_policies(policies)
    if len(trace) == 0:
        raise ValueError("the trace is empty")
    pops, _ = pop_assignment(trace, topology)
    return {p: simulate_policy(trace, p, sizes, topology, warmup_s=warmup_s, pops=pops) for p in names}


# The live chain (config.settings: edge_tier_policy at the POPs, edge_cache_policy above them); the
# per-tier comparison replays the streams this chain produces.
LIVE_EDGE_POLICY = "vfreq"
LIVE_POLICY = "s3fifo"


def tier_streams(trace: Trace, reference: PolicyResult, topology: Topology | None = None
                 ) -> dict[str, list[np.ndarray]]:
    """Per tier, the request indices each cache instance sees when ``reference``'s chain serves the trace."""
    topology = topology or default_topology()
    pops, _ = pop_assignment(trace, topology)
    sb = reference.served_by
    region_of_pop = np.array([trace.regions.index(p.region) if p.region in trace.regions else -1
                              for p in topology.pops])
    req_region = region_of_pop[pops]
    return {
        "edge": [np.flatnonzero(pops == i) for i in range(len(topology.pops))],
        "regional": [np.flatnonzero((sb >= 1) & (req_region == r)) for r in range(len(trace.regions))],
        "shield": [np.flatnonzero(sb >= 2)],
    }


def compare_tiers(trace: Trace, sizes: CacheSizes, reference: PolicyResult, ours: Sequence[str],
                  theirs: Sequence[str] = (), topology: Topology | None = None, *, warmup_s: float = 0.0
                  ) -> dict[str, dict[str, TierResult]]:
    """Every policy on the same per-tier streams (those of ``reference``'s chain) at equal capacity.

    ``ours``: this project's policies (``belady`` included); ``theirs``: libCacheSim's
    (:mod:`cdn_sim.libcachesim_ref`), labelled ``libcachesim:<name>``. Counted after ``warmup_s``.
    """
    capacity = {"edge": sizes.edge, "regional": sizes.regional, "shield": sizes.shield}
    counted = trace.time_s >= warmup_s
    out: dict[str, dict[str, TierResult]] = {}
    for tier, streams in tier_streams(trace, reference, topology).items():
        results: dict[str, TierResult] = {}
        runs = [(p, p) for p in parse_policies(ours)] + [(f"libcachesim:{p}", p) for p in theirs]
        for label, policy in runs:
            total = TierResult()
            for idx in streams:
                if not len(idx):
                    continue
                k, z = trace.obj[idx], trace.size[idx]
                if label.startswith("libcachesim:"):
                    from cdn_sim.libcachesim_ref import replay

                    hits = replay(policy, capacity[tier], k, z)
                else:
                    hits, _ = _replay(policy, capacity[tier], k, z)
                c = counted[idx]
                total.requests += int(c.sum())
                total.hits += int((hits & c).sum())
                total.bytes += int(z[c].sum())
                total.hit_bytes += int(z[hits & c].sum())
            results[label] = total
        out[tier] = results
    return out


def edge_goal(comparison: dict[str, dict[str, TierResult]], policy: str = LIVE_EDGE_POLICY,
              today: str = LIVE_POLICY) -> dict[str, object] | None:
    """The issue's goal at the edge: ``policy``'s byte hit ratio ahead of every libCacheSim policy, its
    object hit ratio within 1 point of the best of them, and its byte-hit gap to Belady at most half of
    ``today``'s (the edge policy before). None without the runs it needs."""
    edge = comparison.get("edge", {})
    theirs = {k: v for k, v in edge.items() if k.startswith("libcachesim:") and k != "libcachesim:beladysize"}
    if policy not in edge or "belady" not in edge or today not in edge or not theirs:
        return None
    mine, belady = edge[policy], edge["belady"]
    best_byte = max(theirs, key=lambda k: theirs[k].byte_hit_ratio)
    best_obj = max(theirs, key=lambda k: theirs[k].object_hit_ratio)
    gap = belady.byte_hit_ratio - mine.byte_hit_ratio
    gap_today = belady.byte_hit_ratio - edge[today].byte_hit_ratio
    return {
        "policy": policy, "byte_hit": mine.byte_hit_ratio, "object_hit": mine.object_hit_ratio,
        "best_byte": best_byte, "best_byte_hit": theirs[best_byte].byte_hit_ratio,
        "best_object": best_obj, "best_object_hit": theirs[best_obj].object_hit_ratio,
        "belady_byte_hit": belady.byte_hit_ratio, "gap": gap, "gap_today": gap_today, "today": today,
        "byte_ahead": mine.byte_hit_ratio > theirs[best_byte].byte_hit_ratio,
        "object_within_1": mine.object_hit_ratio >= theirs[best_obj].object_hit_ratio - 0.01,
        "gap_halved": gap <= gap_today / 2,
    }


def format_comparison(comparison: dict[str, dict[str, TierResult]]) -> str:
    """Per tier, every policy on the same stream; the agreement of the policies both sides have."""
    from cdn_sim.libcachesim_ref import SAME_AS_OURS

    lines = [f"{'tier':9} {'policy':24} {'obj hit':>8} {'byte hit':>9}"]
    lines.append("-" * len(lines[0]))
    for tier, results in comparison.items():
        for label, r in results.items():
            lines.append(f"{tier:9} {label:24} {r.object_hit_ratio:8.1%} {r.byte_hit_ratio:9.1%}")
        agree = []
        for p in SAME_AS_OURS:
            a, b = results.get(p), results.get(f"libcachesim:{p}")
            if a is not None and b is not None:
                d = max(abs(a.object_hit_ratio - b.object_hit_ratio), abs(a.byte_hit_ratio - b.byte_hit_ratio))
                agree.append(f"{p} {d * 100:.2f} ({'ok' if d <= 0.005 else 'OFF'})")
        if agree:
            lines.append(f"{tier:9} agreement with libCacheSim, points (<= 0.5): " + ", ".join(agree))
    goal = edge_goal(comparison)
    if goal:
        lines.append("")
        lines.append(f"edge goal for {goal['policy']}: byte hit {goal['byte_hit']:.1%} vs best libCacheSim "
                     f"{goal['best_byte_hit']:.1%} ({goal['best_byte']}): "
                     f"{'ahead' if goal['byte_ahead'] else 'NOT ahead'}; object hit {goal['object_hit']:.1%} vs "
                     f"{goal['best_object_hit']:.1%} ({goal['best_object']}): "
                     f"{'within 1 point' if goal['object_within_1'] else 'NOT within 1 point'}; byte gap to Belady "
                     f"{goal['gap'] * 100:.1f} points vs {goal['today']}'s {goal['gap_today'] * 100:.1f}: "
                     f"{'halved' if goal['gap_halved'] else 'NOT halved'}")
    return "\n".join(lines)


def format_prewarm(runs: dict[str, PolicyResult]) -> str:
    """``{"without": result, "with": result}``: edge hit ratios and origin egress side by side."""
    lines = [f"{'pre-warming':12} {'edge obj hit':>12} {'edge byte hit':>13} {'origin egress':>14} "
             f"{'pushed':>10} {'pushed from origin':>19}"]
    lines.append("-" * len(lines[0]))
    for label, r in runs.items():
        e = r.tiers["edge"]
        lines.append(f"{label:12} {e.object_hit_ratio:12.2%} {e.byte_hit_ratio:13.2%} "
                     f"{r.origin_egress_bytes / GB:11.3f} GB {r.push_fetched_bytes / GB:7.3f} GB "
                     f"{r.push_origin_bytes / GB:16.3f} GB")
    return "\n".join(lines)


def size_sweep(trace: Trace, policies: Sequence[str], sizes: CacheSizes, factors: Sequence[float],
               topology: Topology | None = None, *, warmup_s: float = 0.0) -> dict[str, list[float]]:
    """Edge+regional hit ratio per policy with every cache scaled by each factor."""
    out: dict[str, list[float]] = {p: [] for p in parse_policies(policies)}
    for f in factors:
        for p, res in simulate(trace, list(out), sizes.scaled(f), topology, warmup_s=warmup_s).items():
            out[p].append(res.edge_regional_hit_ratio)
    return out


def format_table(results: dict[str, PolicyResult]) -> str:
    """An aligned text table: per policy, each tier's requests and hit ratios, then the totals."""
    header = (f"{'policy':8} {'tier':14} {'requests':>10} {'obj hit':>8} {'byte hit':>9}")
    lines = [header, "-" * len(header)]
    for policy, res in results.items():
        for name in TIERS:
            t = res.tiers[name]
            lines.append(f"{policy:8} {name:14} {t.requests:10d} {t.object_hit_ratio:8.1%} {t.byte_hit_ratio:9.1%}")
        lines.append(f"{policy:8} {'edge+regional':14} {res.client_requests:10d} "
                     f"{res.edge_regional_hit_ratio:8.1%} {res.edge_regional_byte_hit_ratio:9.1%}")
        lines.append(f"{policy:8} {'origin egress':14} {res.origin_requests:10d} "
                     f"{res.origin_egress_bytes / 1e9:7.1f} GB  ({res.origin_offload:.1%} offload)")
    return "\n".join(lines)


def describe(trace: Trace, sizes: CacheSizes, warmup_s: float, topology: Topology | None = None) -> dict[str, object]:
    """The workload and cache sizes in numbers (for the report header and JSON)."""
    topology = topology or default_topology()
    cfg = trace.config
    counted = trace.time_s >= warmup_s
    days = max((trace.time_s[-1] - warmup_s) / 86_400.0, 1e-9) if len(trace) else 1.0
    masters = counted & (trace.obj % STRIDE == 0)  # one master playlist per view
    viewed = np.unique(trace.video[masters])
    # No cache size helps a region's first request for an object: it must reach the shield.
    _, first = np.unique(trace.obj * len(trace.regions) + trace.region, return_index=True)
    first_in_region = np.zeros(len(trace), dtype=bool)
    first_in_region[first] = True
    return {
        "requests": len(trace), "requests_counted": int(counted.sum()), "views": trace.views,
        "hours": (cfg.duration_s / 3600) if cfg else None, "warmup_hours": warmup_s / 3600,
        "zipf_alpha": cfg.zipf_alpha if cfg else None, "videos": cfg.videos if cfg else None,
        "uploads": cfg.uploads if cfg else None, "flash_crowd": bool(trace.flash_video >= 0),
        "seed": cfg.seed if cfg else None,
        "views_per_viewed_video_per_day": float(masters.sum() / max(len(viewed), 1) / days),
        "edge_regional_ceiling": float(1 - first_in_region[counted].mean()) if counted.any() else 0.0,
        "catalog_bytes": trace.catalog_bytes, "footprint_bytes": trace.footprint_bytes(),
        "edge_bytes": sizes.edge, "regional_bytes": sizes.regional, "shield_bytes": sizes.shield,
        "pops": len(topology.pops), "regions": len(topology.regions),
    }


def format_report(trace: Trace, sizes: CacheSizes, warmup_s: float, results: dict[str, PolicyResult]) -> str:
    """Header (workload, sizes as a share of the catalog), the table, then the issue's goal check."""
    d = describe(trace, sizes, warmup_s)
    cat = trace.catalog_bytes or 1
    lines = [
        f"trace: {d['requests']:,} requests, {d['views']:,} views over {d['hours']:.0f} h "
        f"(first {d['warmup_hours']:.0f} h warm the caches; {d['requests_counted']:,} counted); "
        f"Zipf {d['zipf_alpha']}, {d['videos']:,} videos + {d['uploads']:,} uploads"
        f"{', flash crowd' if d['flash_crowd'] else ''}, seed {d['seed']}",
        f"catalog {cat / GB:.1f} GB (every rendition of every video), "
        f"trace footprint {d['footprint_bytes'] / GB:.1f} GB, "
        f"{d['views_per_viewed_video_per_day']:.0f} views per viewed video per day; edge+regional cannot exceed "
        f"{d['edge_regional_ceiling']:.1%} (the rest are a region's first request for an object)",
        f"caches: edge {sizes.edge / GB:g} GB x {d['pops']} POPs ({sizes.edge / cat:.0%} of catalog each), "
        f"regional {sizes.regional / GB:g} GB x {d['regions']} ({sizes.regional / cat:.0%}), "
        f"shield {sizes.shield / GB:g} GB ({sizes.shield / cat:.0%})",
        "",
        format_table(results),
    ]
    goal = goal_report(results)
    if goal:
        lines.append("")
        lines.append(f"goal: edge+regional >= {GOAL_HIT_RATIO:.0%} and within {GOAL_BELADY_GAP * 100:.0f} points "
                     "of Belady")
        for policy, g in goal.items():
            ratio = g["edge_regional_hit_ratio"]
            gap = g["gap_to_belady"]
            gap_text = "no Belady run" if gap is None else (
                f"{abs(gap) * 100:.1f} points {'below' if gap >= 0 else 'above'} Belady "
                f"({'within' if g['within_gap'] else 'NOT within'} {GOAL_BELADY_GAP * 100:.0f})")
            lines.append(f"  {policy:8} {ratio:6.1%}  {'meets' if g['meets_target'] else 'below'} "
                         f"{GOAL_HIT_RATIO:.0%}; {gap_text}")
    return "\n".join(lines)
