"""ABR rules with synthetic throughput: no network, no clock."""

import random

import pytest

from delivery.abr import AbrConfig, AbrController, Ewma, ThroughputEstimator

RUNGS = [400_000, 850_000, 1_600_000]  # what the test package's master declares, roughly
SEG_S = 2.0


def feed(est: ThroughputEstimator, bps: float, n: int = 10, nbytes: int = 200_000) -> None:
    for _ in range(n):
        est.sample(nbytes, nbytes * 8 / bps)


def simulate(throughputs: list[float], *, max_buffer_s: float = 10.0, config: AbrConfig | None = None,
             default_bps: float = 1_000_000) -> tuple[list[int], list[float], int]:
    """A player in miniature: fetch each segment at the rung chosen, drain the buffer while it downloads.

    Returns (rungs chosen, buffer before each request, stalls).
    """
    est = ThroughputEstimator(default_bps=default_bps)
    abr = AbrController(RUNGS, est, config)
    buffer, chosen, levels, stalls = 0.0, [], [], 0
    for i, tput in enumerate(throughputs):
        decision = abr.choose(buffer, SEG_S)
        levels.append(buffer)
        size = int(RUNGS[decision.index] * SEG_S / 8)
        took = size * 8 / tput
        if i:  # playing since the first segment arrived
            buffer -= took
            if buffer < 0:
                stalls += 1
                buffer = 0.0
        buffer = min(buffer + SEG_S, max_buffer_s)  # a full buffer waits before the next request
        est.sample(size, took)
        chosen.append(decision.index)
    return chosen, levels, stalls


def test_ewma_is_unbiased_from_the_first_sample_and_halves_per_half_life():
    e = Ewma(2.0)
    e.sample(1.0, 100.0)
    assert e.value == pytest.approx(100.0)
    e.sample(2.0, 0.0)  # one half-life of zeros pulls a converged average half way
    long = Ewma(2.0)
    long.sample(1000.0, 100.0)
    long.sample(2.0, 0.0)
    assert long.value == pytest.approx(50.0)


def test_estimator_uses_the_default_until_enough_bytes_are_measured():
    est = ThroughputEstimator(default_bps=1_234_000, min_total_bytes=128_000)
    assert est.estimate_bps() == 1_234_000
    est.sample(100_000, 0.1)
    assert not est.trusted and est.estimate_bps() == 1_234_000
    est.sample(100_000, 0.1)
    assert est.trusted and est.estimate_bps() == pytest.approx(8_000_000)


def test_small_downloads_say_nothing_about_the_link():
    est = ThroughputEstimator(min_bytes=16_000)
    assert not est.sample(1_000, 0.05)  # a playlist: the RTT, not the rate
    assert not est.sample(50_000, 0.0)
    assert est.samples == 0


def test_estimate_follows_a_drop_quickly_but_a_spike_slowly():
    est = ThroughputEstimator()
    feed(est, 5_000_000, n=20)
    feed(est, 500_000, n=1)  # one slow segment: the fast average drops, and the minimum follows
    assert est.estimate_bps() < 2_500_000  # more than halved by one segment
    est2 = ThroughputEstimator()
    feed(est2, 1_000_000, n=20)
    feed(est2, 20_000_000, n=1)  # one fast burst barely moves the slow average, and the minimum holds
    assert est2.estimate_bps() < 1_300_000


def test_start_is_the_richest_rung_within_the_safety_share_of_the_estimate():
    est = ThroughputEstimator(default_bps=1_100_000)
    assert AbrController(RUNGS, est).choose(0, SEG_S).index == 1  # 850k <= 0.8 x 1.1M
    est = ThroughputEstimator(default_bps=300_000)
    assert AbrController(RUNGS, est).choose(0, SEG_S).index == 0  # nothing fits: the leanest


def test_falling_throughput_switches_down_to_what_the_link_carries():
    chosen, _, stalls = simulate([8_000_000] * 10 + [600_000] * 10, default_bps=5_000_000)
    assert chosen[9] == 2  # the top rung while the link is fast
    assert chosen[-1] == 0 and 0 in chosen[10:14]  # down within a few segments of the drop
    assert stalls == 0


def test_full_buffer_allows_an_up_switch_that_a_low_buffer_does_not():
    est = ThroughputEstimator()
    feed(est, 1_850_000, n=20)  # the top rung uses 87 % of the link: above the 0.8 safety share
    low = AbrController(RUNGS, est)
    low.start_at(1)
    low.choose(4.0, SEG_S)  # past the hold
    assert low.choose(3.5, SEG_S).index == 1
    full = AbrController(RUNGS, est)
    full.start_at(1)
    full.choose(9.0, SEG_S)
    decision = full.choose(9.0, SEG_S)
    assert decision.index == 2 and decision.reason == "up"


def test_no_up_switch_below_the_low_buffer_mark_or_right_after_a_switch():
    est = ThroughputEstimator()
    feed(est, 50_000_000)
    abr = AbrController(RUNGS, est, AbrConfig(low_buffer_s=3.0, min_hold_segments=2))
    abr.start_at(0)
    assert abr.choose(2.0, SEG_S).index == 0  # plenty of throughput, too little buffer
    assert abr.choose(3.0, SEG_S).index == 2
    abr.start_at(0)
    assert abr.choose(9.0, SEG_S).index == 0  # held: one segment on the rung first
    assert abr.choose(9.0, SEG_S).index == 2


def test_a_deep_buffer_absorbs_a_dip_that_a_shallow_one_cannot():
    est = ThroughputEstimator()
    feed(est, 1_300_000, n=20)  # just below the top rung
    deep = AbrController(RUNGS, est)
    deep.start_at(2)
    assert deep.choose(9.0, SEG_S).reason == "absorb"
    shallow = AbrController(RUNGS, est)
    shallow.start_at(2)
    decision = shallow.choose(3.0, SEG_S)
    assert decision.reason == "down" and decision.index == 1


def _switches(rungs: list[int]) -> int:
    return sum(a != b for a, b in zip(rungs, rungs[1:], strict=False))


def test_no_oscillation_on_noisy_steady_throughput():
    rng = random.Random(4)
    for mean in (1_000_000, 1_900_000, 2_400_000):  # below, near and above the top rung's need
        throughputs = [mean * rng.lognormvariate(0, 0.3) for _ in range(120)]
        chosen, _, stalls = simulate(throughputs, default_bps=mean)
        assert _switches(chosen[10:]) <= 2, (mean, chosen)
        assert stalls == 0, (mean, chosen)
        if mean == 1_900_000:
            # The same trace flips a memoryless rule (the richest rung under the last sample) all the time.
            naive = [max([0] + [i for i, bw in enumerate(RUNGS) if bw <= t]) for t in throughputs]
            assert _switches(naive[10:]) >= 20


def test_media_rate_makes_each_rung_cost_more():
    est = ThroughputEstimator(default_bps=2_500_000)
    assert AbrController(RUNGS, est).choose(0, SEG_S).index == 2
    assert AbrController(RUNGS, est).choose(0, SEG_S, media_rate=4).index == 0  # 625k effective


@pytest.mark.parametrize("kwargs", [{"safety": 0}, {"safety": 0.95, "full_buffer_factor": 0.9},
                                    {"low_buffer_s": 8, "high_buffer_s": 3}])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        AbrConfig(**kwargs)


def test_rungs_must_ascend():
    with pytest.raises(ValueError, match="ascending"):
        AbrController([2, 1])
    with pytest.raises(ValueError):
        AbrController([])
