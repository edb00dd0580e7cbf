"""Pre-warming: the picker of rising videos (cdn_sim.prewarm), the simulator with and without it, the
forecast hint the edge caches take, and the edge push of only the start variant."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdn_sim.cdn import media_playlist_keys
from cdn_sim.prewarm import LN2, PrewarmPolicy, SimPrewarm, Trend, pick, plan, start_objects, trends
from cdn_sim.simulate import MB, CacheSizes, simulate_policy
from cdn_sim.topology import default_topology
from cdn_sim.vfreq import VideoFrequencyCache
from cdn_sim.workload import STRIDE, WorkloadConfig, generate, object_id, object_sizes

H = 12 * 3600.0


def _steady(rate: float) -> float:
    """The decayed score of a video viewed at ``rate`` per second for ever."""
    return rate * H / LN2


def test_rising_beats_big_but_flat():
    elapsed = 600.0
    decay = 2 ** (-elapsed / H)
    big = _steady(1.0)  # 600 views per interval, for days
    then = {"big": big, "rising": 5.0}
    now = {"big": big * decay + 600, "rising": 5.0 * decay + 60, "new": 30.0}
    got = {t.video: t for t in trends(then, now, elapsed, H)}
    assert math.isclose(got["big"].growth, 1.0, rel_tol=0.01) and got["big"].excess_rate < 0.02
    assert got["rising"].growth > 10 and got["new"].growth == pytest.approx(H / (elapsed * LN2))
    chosen = pick(list(got.values()), {"big": MB, "rising": MB, "new": MB}, PrewarmPolicy(budget_bytes=10 * MB))
    assert [t.video for t in chosen] == ["rising", "new"]  # most excess demand first; big is already cached


def test_budget_is_respected_and_a_smaller_video_fills_the_rest():
    cands = [Trend(f"v{i}", 100 - i, 600.0, 0.001) for i in range(6)]
    cost = {"v0": 6 * MB, "v1": 5 * MB, "v2": 3 * MB, "v3": 1 * MB, "v4": 1 * MB, "v5": 1 * MB}
    chosen = pick(cands, cost, PrewarmPolicy(budget_bytes=10 * MB))
    assert [t.video for t in chosen] == ["v0", "v2", "v3"] and sum(cost[t.video] for t in chosen) <= 10 * MB
    assert [t.video for t in pick(cands, cost, PrewarmPolicy(budget_bytes=10 * MB, max_videos=1))] == ["v0"]
    assert pick(cands, cost, PrewarmPolicy(budget_bytes=0)) == []
    excluded = pick(cands, cost, PrewarmPolicy(budget_bytes=10 * MB), exclude={"v0"})
    assert [t.video for t in excluded] == ["v1", "v2", "v3", "v4"]  # 5 + 3 + 1 + 1 MB


def test_pick_is_deterministic_and_needs_enough_fresh_views():
    cands = [Trend(v, 10.0, 600.0, 0.0) for v in ("b", "c", "a")]  # equal demand: ties by id
    policy = PrewarmPolicy(budget_bytes=100 * MB)
    assert [t.video for t in pick(cands, lambda _: MB, policy)] == ["a", "b", "c"]
    assert [t.video for t in pick(list(reversed(cands)), lambda _: MB, policy)] == ["a", "b", "c"]
    assert pick([Trend("x", 1.0, 600.0, 0.0)], lambda _: MB, policy) == []  # one view is not a trend
    with pytest.raises(ValueError):
        PrewarmPolicy(min_growth=0.5)
    with pytest.raises(ValueError):
        trends({}, {"a": 1.0}, 0.0, H)


def test_start_objects_are_the_master_the_start_rendition_and_audio_heads():
    ids = start_objects(7, duration_s=3.0, renditions=(2,), segments=2)  # a 3 s video has 2 segments
    assert ids[0] == object_id(7, 0, -2) and all(i // STRIDE == 7 for i in ids)
    assert len(ids) == 1 + 2 * (2 + 2)
    assert len(start_objects(7, duration_s=1.0, renditions=(2,), segments=2)) == 1 + 2 * (2 + 1)


SMALL = WorkloadConfig(requests=150_000, videos=150, uploads=120, duration_s=12 * 3600, upload_rise_s=1800,
                       upload_decay_s=3 * 3600, new_share=0.5, seed=4)
SIZES = CacheSizes(60 * MB, 300 * MB, 600 * MB)


@pytest.fixture(scope="module")
def trace():
    return generate(SMALL)


def test_the_plan_uses_only_the_past_and_stays_in_its_budget(trace):
    cfg = SimPrewarm(PrewarmPolicy(min_growth=2, min_fresh_views=2, budget_bytes=4 * MB), interval_s=600)
    pushes = plan(trace, default_topology(), cfg)
    assert pushes.videos > 0 and np.all(np.diff(pushes.time_s) >= 0)
    assert np.array_equal(pushes.size, object_sizes(trace, pushes.obj))
    masters = trace.obj % STRIDE == 0
    for at, region, video in pushes.log[:50]:  # each pushed video had views in its region before the push
        r = trace.regions.index(region)
        assert np.any(masters & (trace.region == r) & (trace.obj // STRIDE == video) & (trace.time_s <= at))
    for at in np.unique(pushes.time_s):  # per POP and run, within the budget
        for p in np.unique(pushes.pop[pushes.time_s == at]):
            assert pushes.size[(pushes.time_s == at) & (pushes.pop == p)].sum() <= 4 * MB
    again = plan(trace, default_topology(), cfg)
    assert again.log == pushes.log and np.array_equal(again.obj, pushes.obj)


def test_simulator_with_and_without_prewarming(trace):
    warm = 3 * 3600.0
    cfg = SimPrewarm(PrewarmPolicy(min_growth=2, min_fresh_views=2, budget_bytes=4 * MB), interval_s=600)
    pushes = plan(trace, default_topology(), cfg)
    without = simulate_policy(trace, "s3fifo", SIZES, warmup_s=warm, edge_policy="vfreq")
    with_ = simulate_policy(trace, "s3fifo", SIZES, warmup_s=warm, edge_policy="vfreq", pushes=pushes)
    assert without.push_fetched_bytes == 0 and with_.push_fetched_bytes > 0
    # Client traffic is the same; pushes that reached the origin count as its egress.
    assert with_.client_requests == without.client_requests and with_.client_bytes == without.client_bytes
    client_origin = int(trace.size[(trace.time_s >= warm) & (with_.served_by == 3)].sum())
    assert with_.origin_egress_bytes == client_origin + with_.push_origin_bytes
    assert with_.push_origin_bytes <= with_.push_fetched_bytes
    # The pushed objects are answered at the edge more often than without.
    pushed = np.isin(trace.obj, pushes.obj) & (trace.time_s >= warm)
    assert (with_.served_by[pushed] == 0).mean() > (without.served_by[pushed] == 0).mean()
    # No pushes: exactly the plain simulation.
    empty = plan(trace, default_topology(), SimPrewarm(PrewarmPolicy(budget_bytes=0)))
    same = simulate_policy(trace, "s3fifo", SIZES, warmup_s=warm, edge_policy="vfreq", pushes=empty)
    assert np.array_equal(same.served_by, without.served_by) and same.to_dict() == without.to_dict()


def test_a_hinted_push_survives_in_vfreq_an_unhinted_one_goes_first():
    cache = VideoFrequencyCache(3_000, half_life=1_000)
    for _ in range(5):
        cache.access(object_id(1, 0, -2), 10)
        cache.access(object_id(1, 0, 1), 1_000)
    cache.put(object_id(2, 0, 1), True, 1_000)  # pushed, no forecast: worth nothing
    cache.hint(object_id(3, 0, 1), 20.0)  # pushed with a forecast of 20 views
    cache.put(object_id(3, 0, 1), True, 1_000)
    cache.access(object_id(4, 0, -2), 10)
    cache.put(object_id(4, 0, 1), True, 1_000)  # room is needed: the unhinted push leaves
    assert object_id(2, 0, 1) not in cache and object_id(3, 0, 1) in cache


def test_the_edge_push_of_one_variant_names_its_playlist_and_every_audio_rendition():
    master = ("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"en\",URI=\"aac/index.m3u8\"\n"
              "#EXT-X-STREAM-INF:BANDWIDTH=2800000,AUDIO=\"a\"\nh264_720p/index.m3u8\n"
              "#EXT-X-STREAM-INF:BANDWIDTH=500000,AUDIO=\"a\"\nh264_360p/index.m3u8\n")
    key = "vod/v/x/p/master.m3u8"
    assert media_playlist_keys(master, key, 1) == ["vod/v/x/p/h264_720p/index.m3u8", "vod/v/x/p/aac/index.m3u8"]
    assert len(media_playlist_keys(master, key)) == 3
