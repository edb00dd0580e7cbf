"""The workload generator, the tiered simulator and `reelflow cdn simulate` (pure, no services)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from cdn_sim.simulate import (
    DEFAULT_SIZES,
    DEFAULT_WARMUP_S,
    GB,
    MB,
    ORIGIN,
    CacheSizes,
    goal_report,
    parse_policies,
    simulate,
    simulate_policy,
)
from cdn_sim.topology import Pop, Topology
from cdn_sim.workload import STRIDE, WorkloadConfig, generate, object_id

SMALL = WorkloadConfig(requests=120_000, videos=300, uploads=60, duration_s=8 * 3600, seed=4)
SMALL_SIZES = CacheSizes(150 * MB, 600 * MB, 1_500 * MB)


@pytest.fixture(scope="module")
def small_trace():
    return generate(SMALL)


# --- workload -------------------------------------------------------------------------------------

def test_workload_is_deterministic_by_seed(small_trace):
    again = generate(SMALL)
    for name in ("time_s", "region", "client", "obj", "size"):
        assert np.array_equal(getattr(small_trace, name), getattr(again, name))
    other = generate(replace(SMALL, seed=5))
    assert not np.array_equal(other.obj[:1000], small_trace.obj[:1000])


def test_workload_shape(small_trace):
    t = small_trace
    assert 0.97 * SMALL.requests <= len(t) <= SMALL.requests  # whole views, just under the budget
    assert np.all(np.diff(t.time_s) >= 0) and t.time_s[0] >= 0
    assert t.size.min() > 0 and set(np.unique(t.region)) == {0, 1, 2} and t.regions == ("eu", "us", "ap")
    # An object always has the same size.
    order = np.argsort(t.obj, kind="stable")
    same = t.obj[order][1:] == t.obj[order][:-1]
    assert np.array_equal(t.size[order][1:][same], t.size[order][:-1][same])
    # The object -> video mapping: every request's video exists, and ids decode as documented.
    assert t.video.max() < len(t.video_upload_s)
    assert object_id(7, 2, -2) == 7 * STRIDE and object_id(7, 2, 3) // STRIDE == 7
    # One master playlist per view; a view fetches 5 playlists/inits plus pairs of segments.
    masters = int(np.sum(t.obj % STRIDE == 0))
    assert masters == t.views and (len(t) - 5 * masters) % 2 == 0
    # Most views stop early (swipes): segment 1 is fetched far more often than segment 6.
    seg1 = np.isin(t.obj % STRIDE, [object_id(0, v, 1) for v in range(7)])
    seg6 = np.isin(t.obj % STRIDE, [object_id(0, v, 6) for v in range(7)])
    assert seg1.sum() > 3 * seg6.sum()


def test_new_uploads_are_never_requested_before_they_are_published(small_trace):
    t = small_trace
    assert np.all(t.time_s >= t.video_upload_s[t.video])
    new = t.video >= SMALL.videos
    assert 0.2 < new.mean() < 0.4  # new_share 0.3 of views


def test_zipf_parameter_controls_concentration():
    def top_share(alpha):
        tr = generate(replace(SMALL, requests=40_000, zipf_alpha=alpha, new_share=0.0, uploads=0, local_share=0))
        _, counts = np.unique(tr.video[tr.obj % STRIDE == 0], return_counts=True)
        return np.sort(counts)[::-1][:10].sum() / counts.sum()

    assert top_share(0.6) < top_share(0.9) < top_share(1.3)


def test_day_and_night_follow_each_regions_clock():
    tr = generate(WorkloadConfig(requests=200_000, videos=200, uploads=20, seed=2))  # two days
    for r, offset in enumerate((1, -5, 8)):
        local_hour = ((tr.time_s[tr.region == r] / 3600 + offset) % 24).astype(int)
        per_hour = np.bincount(local_hour, minlength=24)
        assert per_hour[20:23].sum() > 2.5 * per_hour[8:11].sum()  # evening peak vs morning trough


def test_flash_crowd_is_one_new_video_going_viral():
    cfg = replace(SMALL, flash_crowd=True, flash_share=0.1)
    tr = generate(cfg)
    flash = tr.video == tr.flash_video
    assert tr.flash_video >= 0 and 0.08 < np.mean(flash[tr.obj % STRIDE == 0]) < 0.12
    start = cfg.flash_at * cfg.duration_s
    assert tr.time_s[flash].min() >= start
    assert np.median(tr.time_s[flash]) < start + cfg.flash_decay_s  # a spike, not a trickle


@pytest.mark.parametrize("bad,problem", [
    ({"zipf_alpha": 0}, "zipf_alpha must be > 0"),
    ({"zipf_alpha": -1.0}, "zipf_alpha must be > 0"),
    ({"requests": 0}, "at least 1"),
    ({"videos": -3}, "at least 1"),
    ({"new_share": 1.5}, "new_share must be between 0 and 1"),
    ({"duration_s": 0}, "duration_s must be positive"),
    ({"uploads": 0}, "new_share > 0 needs uploads > 0"),
])
def test_hostile_workload_configs_are_refused(bad, problem):
    with pytest.raises(ValueError, match=problem):
        WorkloadConfig(**bad)


# --- simulator ------------------------------------------------------------------------------------

def test_every_request_is_served_exactly_once_and_tiers_chain(small_trace):
    res = simulate(small_trace, ["lru", "belady"], SMALL_SIZES, warmup_s=3600)["lru"]
    counted = small_trace.time_s >= 3600
    assert res.client_requests == counted.sum() and res.client_bytes == small_trace.size[counted].sum()
    edge, regional, shield = res.tiers["edge"], res.tiers["regional"], res.tiers["shield"]
    assert edge.requests == res.client_requests
    assert regional.requests == edge.requests - edge.hits and regional.bytes == edge.bytes - edge.hit_bytes
    assert shield.requests == regional.requests - regional.hits
    assert res.origin_requests == shield.requests - shield.hits
    assert res.origin_egress_bytes == shield.bytes - shield.hit_bytes
    assert res.edge_regional_hit_ratio == pytest.approx(1 - shield.requests / res.client_requests)
    # The first request for every object ends at the origin: no cache has seen it.
    _, first = np.unique(small_trace.obj, return_index=True)
    assert np.all(res.served_by[first] == ORIGIN)
    # A region's first request for an object cannot be answered at the edge or regional tier.
    _, first_in_region = np.unique(small_trace.obj * 3 + small_trace.region, return_index=True)
    assert np.all(res.served_by[first_in_region] >= 2)


def test_simulation_is_deterministic(small_trace):
    a = simulate(small_trace, ["s3fifo"], SMALL_SIZES)["s3fifo"]
    b = simulate(generate(SMALL), ["s3fifo"], SMALL_SIZES)["s3fifo"]
    assert np.array_equal(a.served_by, b.served_by) and a.to_dict() == b.to_dict()


def test_belady_beats_the_online_policies_at_the_edge(small_trace):
    results = simulate(small_trace, ["lru", "sieve", "s3fifo", "belady"], SMALL_SIZES)
    best = results["belady"].tiers["edge"].object_hit_ratio
    for policy in ("lru", "sieve", "s3fifo"):
        assert best > results[policy].tiers["edge"].object_hit_ratio


def test_bigger_caches_never_hurt(small_trace):
    for policy in ("lru", "s3fifo"):
        runs = [simulate_policy(small_trace, policy, SMALL_SIZES.scaled(f)) for f in (0.25, 1, 4)]
        edge = [r.tiers["edge"].object_hit_ratio for r in runs]
        combined = [r.edge_regional_hit_ratio for r in runs]
        egress = [r.origin_egress_bytes for r in runs]
        assert edge == sorted(edge) and combined == sorted(combined) and egress == sorted(egress, reverse=True)
        assert edge[0] < edge[-1]
    # LRU keeps a superset in a bigger cache, so at the edge no request that hit can turn into a miss.
    small, big = (simulate_policy(small_trace, "lru", SMALL_SIZES.scaled(f)) for f in (1, 2))
    assert not np.any((small.served_by == 0) & (big.served_by != 0))


def test_flash_crowd_is_absorbed_by_the_caches():
    cfg = replace(SMALL, flash_crowd=True, flash_share=0.1)
    tr = generate(cfg)
    flash = tr.video == tr.flash_video
    first_hour = flash & (tr.time_s < cfg.flash_at * cfg.duration_s + 3600)
    for policy in ("lru", "sieve", "s3fifo", "belady"):
        served_by = simulate(tr, [policy], SMALL_SIZES)[policy].served_by
        # While it peaks, the viral video's objects cross the origin about once each (S3-FIFO's shield
        # lets a deep segment go unless it was hit twice while in its small queue, as the paper has it,
        # and fetches it again: 102 fetches for 89 objects here), however many ask ...
        origin, distinct = np.sum(first_hour & (served_by == ORIGIN)), len(np.unique(tr.obj[first_hour]))
        assert distinct <= origin <= (1.2 if policy == "s3fifo" else 1.0) * distinct
        assert origin < 0.01 * first_hour.sum()
        # ... and its requests are answered at the edge far more often than the rest of the traffic's.
        edge_flash, edge_rest = np.mean(served_by[flash] == 0), np.mean(served_by[~flash] == 0)
        assert edge_flash > 0.9 and edge_flash > 1.5 * edge_rest


def test_custom_topology_and_mismatched_regions():
    tr = generate(replace(SMALL, requests=20_000))
    one_pop = Topology(tuple(Pop(f"{r}-1", r) for r in ("eu", "us", "ap")))
    res = simulate(tr, ["lru"], SMALL_SIZES, one_pop)["lru"]
    assert set(res.instances) == {"eu-1", "us-1", "ap-1", "regional-eu", "regional-us", "regional-ap", "shield"}
    with pytest.raises(ValueError, match="trace region 'ap' is not in the topology"):
        simulate(tr, ["lru"], SMALL_SIZES, Topology((Pop("eu-1", "eu"), Pop("us-1", "us"))))


def test_hostile_simulator_inputs():
    with pytest.raises(ValueError, match="unknown cache policy 'arc'"):
        parse_policies("lru,arc")
    with pytest.raises(ValueError, match="no cache policy"):
        parse_policies(" , ")
    assert parse_policies("LRU, s3fifo,lru") == ("lru", "s3fifo")
    for bad in (0, -1):
        with pytest.raises(ValueError, match="edge cache size: cache capacity must be positive"):
            CacheSizes(bad, GB, GB)
    with pytest.raises(ValueError, match="shield cache size"):
        CacheSizes(GB, GB, -GB)


def test_default_configuration_against_the_issue_goal():
    """The issue's goal at the default workload and sizes (the run the README quotes)."""
    tr = generate(WorkloadConfig())
    results = simulate(tr, ["s3fifo", "belady"], DEFAULT_SIZES, warmup_s=DEFAULT_WARMUP_S)
    goal = goal_report(results)["s3fifo"]
    belady = results["belady"].edge_regional_hit_ratio
    # What holds: S3-FIFO within 3 points of Belady, and Belady itself above 95 %.
    assert goal["within_gap"] and goal["gap_to_belady"] < 0.025
    assert belady > 0.95
    # What does not: S3-FIFO stays just under 95 % (documented in the README), bounded by the
    # compulsory misses of this trace's long tail and by the regional tier's size.
    assert 0.935 < goal["edge_regional_hit_ratio"] < 0.95 and not goal["meets_target"]


# --- CLI ------------------------------------------------------------------------------------------

SMALL_ARGS = ["cdn", "simulate", "--requests", "30000", "--videos", "200", "--uploads", "40", "--hours", "6",
              "--warmup-hours", "1", "--edge-mb", "100", "--regional-mb", "400", "--shield-mb", "1000"]


def test_cli_prints_the_table_and_writes_a_png(tmp_path, capsys):
    from reelflow.cli import main

    png = tmp_path / "sim.png"
    assert main([*SMALL_ARGS, "--flash-crowd", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    for policy in ("lru", "sieve", "s3fifo", "belady"):
        assert any(line.split()[:2] == [policy, "edge+regional"] for line in out.splitlines())
    assert "origin egress" in out and "goal: edge+regional >= 95%" in out and "flash crowd" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_json(capsys):
    from reelflow.cli import main

    assert main([*SMALL_ARGS, "--policies", "lru,belady", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["results"]) == {"lru", "belady"} and set(doc["goal"]) == {"lru"}
    assert doc["workload"]["edge_bytes"] == 100 * MB
    assert 0 < doc["results"]["lru"]["tiers"]["edge"]["object_hit_ratio"] < 1


@pytest.mark.parametrize("argv,problem", [
    (["--zipf", "0"], "must be > 0"),
    (["--zipf", "-0.5"], "must be > 0"),
    (["--zipf", "much"], "expected a number"),
    (["--policies", "lru,fifo"], "unknown cache policy 'fifo'"),
    (["--edge-mb", "0"], "must be > 0"),
    (["--regional-mb", "-10"], "must be > 0"),
    (["--requests", "0"], "must be > 0"),
])
def test_cli_refuses_hostile_arguments(argv, problem, capsys):
    from reelflow.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["cdn", "simulate", *argv])
    assert exit_.value.code == 2
    assert problem in capsys.readouterr().err


def test_cli_refuses_inconsistent_values(capsys):
    from reelflow.cli import main

    assert main(["cdn", "simulate", "--hours", "5", "--warmup-hours", "5"]) == 2
    assert "--warmup-hours must be >= 0 and below --hours" in capsys.readouterr().err
    assert main(["cdn", "simulate", "--uploads", "-1"]) == 2
    assert "uploads cannot be negative" in capsys.readouterr().err
    assert main(["cdn", "simulate", "--plot", "/nonexistent-dir/x.png"]) == 2
    assert "--plot: directory /nonexistent-dir does not exist" in capsys.readouterr().err


def test_cli_without_uploads_and_with_the_default_warmup(capsys):
    from reelflow.cli import main

    args = [a for a in SMALL_ARGS if a not in ("--warmup-hours", "1")]  # default: the first half
    assert main([*args[:args.index("--uploads")], *args[args.index("--uploads") + 2:], "--uploads", "0",
                 "--policies", "s3fifo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["workload"]["uploads"] == 0 and doc["workload"]["warmup_hours"] == 3
