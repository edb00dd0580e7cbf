"""The video-frequency edge policy (cdn_sim.vfreq), the short-video workload and the libCacheSim cross-check."""

from __future__ import annotations

import numpy as np
import pytest

from cdn_sim.cache import make_cache
from cdn_sim.simulate import MB, pop_assignment
from cdn_sim.topology import default_topology
from cdn_sim.vfreq import VideoFrequencyCache, split_key
from cdn_sim.workload import STRIDE, WorkloadConfig, generate, object_id, short_video_config, upload_popularity


def _stream(n: int, seed: int = 3) -> tuple[list[int], list[int]]:
    trace = generate(WorkloadConfig(requests=n, videos=120, uploads=30, duration_s=4 * 3600, seed=seed))
    return trace.obj.tolist(), trace.size.tolist()


def test_capacity_is_never_exceeded_in_bytes_and_replay_is_deterministic():
    keys, sizes = _stream(20_000)
    runs = []
    for _ in range(2):
        cache = VideoFrequencyCache(20 * MB, half_life=2_000)
        hits = []
        for k, s in zip(keys, sizes, strict=True):
            hits.append(cache.access(k, s))
            assert cache.used <= cache.capacity
        assert cache.used == sum(sizes[keys.index(k)] for k in cache)
        runs.append(hits)
    assert runs[0] == runs[1] and 0 < sum(runs[0]) < len(keys)
    assert VideoFrequencyCache(20 * MB, half_life=2_000).replay(keys, sizes) == runs[0]


def test_a_newcomer_worth_less_than_its_victims_is_bypassed():
    cache = VideoFrequencyCache(3_000, half_life=1_000)
    hot = object_id(1, 0, 1)
    for _ in range(20):  # video 1 viewed 20 times: its segment is worth a lot
        cache.access(object_id(1, 0, -2), 10)
        cache.access(hot, 2_900)
    assert hot in cache
    cold = object_id(2, 0, 1)
    assert cache.access(cold, 2_900) is False  # a first request of an unseen video: not worth the swap
    assert cold not in cache and hot in cache and cache.bypassed >= 1
    for _ in range(40):  # video 2 takes off: now it is worth more and replaces the old one
        cache.access(object_id(2, 0, -2), 10)
    cache.access(cold, 2_900)
    assert cold in cache and hot not in cache


def test_without_admission_every_fitting_miss_is_admitted_and_oversize_is_refused():
    cache = VideoFrequencyCache(1_000, admission=False)
    assert cache.access(object_id(5, 1, 1), 900) is False and object_id(5, 1, 1) in cache
    assert cache.access(object_id(6, 1, 1), 900) is False and object_id(6, 1, 1) in cache
    assert cache.access(object_id(7, 1, 1), 5_000) is False and cache.stats.rejected == 1
    assert cache.used <= 1_000


def test_smaller_objects_of_a_video_are_worth_more_per_byte():
    cache = VideoFrequencyCache(10 * MB, size_weight=0.5)
    cache.access(object_id(3, 0, -2), 1_600)
    cache.put(object_id(3, 0, 0), None, 1_000)
    cache.put(object_id(3, 0, 1), None, 1_000_000)
    assert cache.value_of(object_id(3, 0, 0)) > cache.value_of(object_id(3, 0, 1)) > 0


def test_split_key_knows_simulator_ids_and_live_keys():
    assert split_key(7 * STRIDE + 12) == (7, 12)
    assert split_key("vod/v/abc/h264/720p/seg_00003.m4s") == ("vod/v/abc", "h264/720p/seg_00003.m4s")
    assert split_key("vod/v/abc/master.m3u8") == ("vod/v/abc", "master.m3u8")
    assert split_key("static/app.js") == ("static/app.js", "")
    cache = make_cache("vfreq", 10_000)  # live string keys work through the ByteCache interface
    assert cache.put("vod/v/abc/master.m3u8", b"x", 100) and cache.get("vod/v/abc/master.m3u8") == b"x"
    assert cache.remove_prefix("vod/v/abc/") == 1 and cache.used == 0


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        VideoFrequencyCache(100, half_life=0)
    with pytest.raises(ValueError):
        VideoFrequencyCache(100, size_weight=2)


# --- the short-video workload ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_trace():
    return generate(short_video_config(requests=150_000, uploads=4_000, videos=200, seed=3))


def test_short_video_workload_is_mostly_one_hit_wonders(short_trace):
    _, counts = np.unique(short_trace.obj, return_counts=True)
    assert (counts == 1).mean() > 0.5  # most objects are requested once
    pops, _ = pop_assignment(short_trace, default_topology())
    _, at_pop = np.unique(short_trace.obj[pops == 0], return_counts=True)
    assert (at_pop == 1).mean() > 0.6


def test_short_video_uploads_rise_and_fade_within_hours(short_trace):
    cfg = short_trace.config
    age = np.array([0.0, 0.25, 1.0, 1.5, 3.0, 12.0]) * 3600
    pop = upload_popularity(age, cfg)
    assert pop[0] == 0 and pop[1] < pop[2]  # rising in the first hour
    assert pop[3] > pop[4] > 10 * pop[5]  # fading within hours
    # In the trace: the most viewed upload's views are concentrated within hours of publication.
    masters = short_trace.obj % STRIDE == 0
    new = masters & (short_trace.video >= cfg.videos)
    videos, counts = np.unique(short_trace.video[new], return_counts=True)
    top = videos[np.argmax(counts)]
    ages = short_trace.time_s[masters & (short_trace.video == top)] - short_trace.video_upload_s[top]
    assert np.median(ages) < 6 * 3600 and np.percentile(ages, 95) < 16 * 3600  # a trace lasts 48 h
    # Without a rise, the default model is unchanged (pure exponential decay).
    default = WorkloadConfig()
    assert np.allclose(upload_popularity(age, default), np.exp(-age / default.upload_decay_s))


# --- libCacheSim agreement ------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["lru", "sieve", "s3fifo"])
def test_libcachesim_agrees_within_half_a_point(policy):
    pytest.importorskip("libcachesim")
    from cdn_sim.libcachesim_ref import replay

    keys, sizes = _stream(40_000, seed=5)
    ours = np.array(make_cache(policy, 200 * MB).replay(keys, sizes))
    theirs = replay(policy, 200 * MB, np.array(keys), np.array(sizes))
    z = np.array(sizes)
    assert abs(ours.mean() - theirs.mean()) <= 0.005
    assert abs(z[ours].sum() / z.sum() - z[theirs].sum() / z.sum()) <= 0.005


@pytest.mark.parametrize("capacity", [60 * MB, 400 * MB])
def test_s3fifo_matches_libcachesim_request_for_request(capacity):
    """Same algorithm, same parameters (S 10 %, ghost 90 % of the bytes, move to M after 2 hits in S):
    the same hit or miss on every request, through replay() and through the live path (get/put).
    (Capacities where every object is under S's size: libCacheSim refuses larger ones, ours admits them.)"""
    pytest.importorskip("libcachesim")
    from cdn_sim.libcachesim_ref import replay

    keys, sizes = _stream(30_000, seed=11)
    assert max(sizes) < capacity // 10
    theirs = replay("s3fifo", capacity, np.array(keys), np.array(sizes))
    assert make_cache("s3fifo", capacity).replay(keys, sizes) == theirs.tolist()
    live = make_cache("s3fifo", capacity)
    hits = []
    for k, s in zip(keys, sizes, strict=True):
        hit = live.get(k) is not None
        if not hit:
            live.put(k, b"", s)
        hits.append(hit)
    assert hits == theirs.tolist()
