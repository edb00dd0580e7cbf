"""MovieLens-100K (put in .data/ by ./dev setup) end to end, both protocols, one seed each at 8 epochs
(~1-1.5 min on 2 cores). The published table uses 15; 8 scored the same on the time split's validation folds
(0.311 vs 0.313), and seed 0 gives 0.332 (1.43x) and 0.500 (2.32x) at 8 against 0.331 and 0.502 at 15.

Measured over 3 seeds with ``python -m recommend.evaluate`` (NOTES.md): on the global time split the tuned
two-tower reaches recall@50 0.338 = 1.45x popularity (seeds 0.331 / 0.342 / 0.341), level with recent
popularity (0.327): the 1.5x goal is not met, though the bootstrap interval over the 109 evaluable users
(1.20-1.78) cannot tell 1.45x from 1.5x. One seed here, and ±0.02 of seed noise, so the bounds are 1.35x
popularity and 0.95x recent popularity. Leave-last-5-out evaluates all 943 users and its
seeds agree to ±0.001 (0.503 = 2.34x popularity), so its bound (2.0x) sits closer.
"""

from __future__ import annotations

import pytest

from recommend.evaluate import PROTOCOL_CONFIGS, format_table, ratio_interval, run_movielens

TIME_BOUND = 1.35  # x popularity
LAST_N_BOUND = 2.0
EPOCHS = 8


def test_movielens_time_split_evaluation():
    results = run_movielens(PROTOCOL_CONFIGS["time"], epochs=EPOCHS, batch_size=512, protocol="time", seeds=(0,))
    by = {r.name: r for r in results}
    print("\n" + format_table(results))
    assert {r.users for r in results} == {109}  # baselines and model on the same users
    assert by["popularity"].recall[50] == pytest.approx(0.23, abs=0.02)  # measured (docs/recommendations.md)
    assert by["random"].recall[50] < 0.06
    assert by["two-tower"].recall[50] > TIME_BOUND * by["popularity"].recall[50]
    assert by["two-tower"].recall[50] > 0.95 * by["recent-pop"].recall[50]
    assert by["two-tower"].seconds_per_epoch is not None and by["two-tower"].seconds_per_epoch > 0
    tt, pop = by["two-tower"].per_user, by["popularity"].per_user
    assert len(tt) == len(pop) == 109 and tt.mean() == pytest.approx(by["two-tower"].recall[50])
    lo, hi = ratio_interval(tt, pop)
    print(f"two-tower / popularity recall@50: 95 % interval over users {lo:.2f}-{hi:.2f}")
    assert lo < by["two-tower"].recall[50] / by["popularity"].recall[50] < hi


def test_movielens_leave_last_out_evaluation():
    results = run_movielens(PROTOCOL_CONFIGS["last-n"], epochs=EPOCHS, batch_size=512, protocol="last-n",
                            seeds=(0,))
    by = {r.name: r for r in results}
    print("\n" + format_table(results))
    assert {r.users for r in results} == {943}  # every MovieLens user has >= 20 ratings
    assert by["random"].recall[50] < 0.06
    assert by["two-tower"].recall[50] > LAST_N_BOUND * by["popularity"].recall[50]
