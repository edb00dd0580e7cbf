"""Pure parts of the batch pools: the merger's quotas and filters, trending decay, similarity, exploration."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.model_registry import version_id
from recommend import pools, sources
from recommend.sources import TrendEvent


def _ids(prefix: str, n: int) -> list[tuple[str, float]]:
    return [(f"{prefix}{i:03d}", float(n - i)) for i in range(n)]


def test_merge_respects_quotas_and_interleaves():
    srcs = {"a": _ids("a", 100), "b": _ids("b", 100), "c": _ids("c", 100)}
    res = pools.merge(srcs, {"a": 20, "b": 10, "c": 10}, keep=lambda v: True, size=40)
    assert res.by_source == {"a": 20, "b": 10, "c": 10}
    ids = [v for v, _ in res.pool]
    assert len(ids) == len(set(ids)) == 40
    scores = [s for _, s in res.pool]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1
    # The head mixes sources in proportion (a has twice b's share), rather than one source first.
    head = ids[:8]
    assert sum(v.startswith("a") for v in head) == 4 and sum(v.startswith("b") for v in head) == 2
    assert [v for v in ids if v.startswith("a")] == [f"a{i:03d}" for i in range(20)]  # each source's order kept


def test_quotas_scale_to_the_pool_size():
    assert pools.scale_quotas({"a": 200, "b": 100, "c": 100}, 100) == {"a": 50, "b": 25, "c": 25}
    assert sum(pools.scale_quotas(pools.DEFAULT_QUOTAS, 37).values()) == 37
    srcs = {"a": _ids("a", 500), "b": _ids("b", 500)}
    assert pools.merge(srcs, {"a": 300, "b": 100}, keep=lambda v: True, size=40).by_source == {"a": 30, "b": 10}


def test_small_catalogs_keep_every_source_in_proportion():
    everything = _ids("v", 60)
    srcs = {"big": everything, "explore": list(reversed(everything))}
    res = pools.merge(srcs, {"big": 300, "explore": 100}, keep=lambda v: True, size=400)
    assert res.by_source == {"big": 45, "explore": 15}  # not 60 + 0
    assert pools.merge({"a": []}, {"a": 10}, keep=lambda v: True).pool == []


def test_merge_redistributes_unused_quota_and_dedupes():
    srcs = {"two_tower": [], "a": _ids("x", 50), "b": _ids("x", 5) + _ids("b", 50)}
    res = pools.merge(srcs, {"two_tower": 30, "a": 10, "b": 10}, keep=lambda v: True, size=50)
    ids = [v for v, _ in res.pool]
    assert len(ids) == len(set(ids)) == 50  # the empty source's 30 slots went to the others
    assert "two_tower" not in res.by_source
    assert res.by_source["a"] + res.by_source["b"] == 50


def test_filters_drop_seen_blocked_hidden_and_unservable():
    meta = {"v1": pools.VideoMeta("c1", ("cats",)), "v2": pools.VideoMeta("c2", ("dogs",)),
            "v3": pools.VideoMeta("c3", ("cats", "fun")), "v4": pools.VideoMeta("c4", ()),
            "v5": pools.VideoMeta(None, ("news",))}
    f = pools.Filters(seen=frozenset({"v4"}), blocked_creators=frozenset({"c1"}), hidden_creators=frozenset({"c2"}),
                      hidden_tags=frozenset({"fun"}))
    srcs = {"a": [("v1", 5), ("v2", 4), ("v3", 3), ("v4", 2), ("v5", 1), ("gone", 9)]}
    res = pools.merge(srcs, {"a": 10}, keep=lambda v: pools.allowed(v, meta, f))
    assert [v for v, _ in res.pool] == ["v5"]


def test_trending_velocity_decays_and_splits_regions():
    now = 1_000_000.0
    hl = 3600.0
    events = ([TrendEvent("old", "eu", "view_start", now - 10 * hl)] * 100  # 100 views 10 half-lives ago
              + [TrendEvent("new", "eu", "view_start", now - 60)] * 5
              + [TrendEvent("us1", "us", "share", now)])
    t = sources.trending_velocity(events, now, half_life_s=hl)
    eu = dict(t["eu"])
    assert eu["new"] > eu["old"]  # velocity, not totals
    assert eu["old"] == pytest.approx(100 * 2 ** -10)
    assert "us1" not in eu and dict(t["global"])["us1"] == pytest.approx(5.0)
    mixed = [v for v, _ in sources.trending_for(t, "us", 10)]
    assert mixed[0] == "us1" and set(mixed) == {"us1", "new", "old"}
    # The future (clock skew) counts as now instead of growing without bound.
    assert dict(sources.trending_velocity([TrendEvent("f", "eu", "like", now + 1e6)], now)["eu"])["f"] == 3.0


def test_content_similar_finds_topic_neighbours_and_skips_seeds():
    rng = np.random.default_rng(0)
    centroids = np.eye(4, 16)
    ids, vecs = [], []
    for t in range(4):
        for j in range(10):
            ids.append(f"t{t}_{j}")
            vecs.append(centroids[t] + 0.1 * rng.normal(size=16))
    out = sources.content_similar(ids, np.array(vecs), {"u": {"t2_0": 1.0, "t2_1": 1.0}, "w": {"t0_0": 1.0,
                                                                                                  "t3_0": 1.0}}, 8)
    assert all(v.startswith("t2_") for v, _ in out["u"]) and not {"t2_0", "t2_1"} & {v for v, _ in out["u"]}
    assert {v[:2] for v, _ in out["w"]} == {"t0", "t3"}  # two interests: neighbours of both (max, not mean)


def test_seed_weights_favour_recent_positive_events():
    now = 10 * 86400.0
    w = sources.seed_weights([("a", "complete", now), ("b", "complete", now - 3 * 86400), ("c", "skip", now),
                              ("d", "like", now)], now)
    assert set(w) == {"a", "b", "d"} and w["d"] > w["a"] > w["b"]


def test_exploration_is_deterministic_per_window_and_prefers_underexposed():
    cands = {f"v{i}": (0.0 if i < 50 else 1000.0) for i in range(100)}
    a = sources.exploration(["u1", "u2"], cands, 20, salt="100")
    assert a == sources.exploration(["u1", "u2"], cands, 20, salt="100")
    assert a["u1"] != a["u2"] and a["u1"] != sources.exploration(["u1"], cands, 20, salt="200")["u1"]
    low = sum(int(v[1:]) < 50 for v, _ in a["u1"])
    assert low >= 18


def test_following_newest_first():
    out = sources.following({"u": {"c1", "c2"}, "nobody": set()},
                            {"c1": [("a", 10.0), ("b", 30.0)], "c2": [("c", 20.0)]}, 10)
    assert [v for v, _ in out["u"]] == ["b", "c", "a"] and "nobody" not in out


def test_vector_source_inner_product():
    src = sources.VectorSource("two_tower", {"u": 0}, np.array([[1.0, 0.0]]), ["x", "y", "z"],
                               np.array([[0.0, 1.0], [1.0, 0.0], [0.7, 0.7]]))
    assert [v for v, _ in src.candidates(["u", "unknown"], 2)["u"]] == ["y", "z"]


def test_version_id_is_deterministic():
    from datetime import UTC, datetime

    end = datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert version_id(end, {"epochs": 5}) == version_id(end, {"epochs": 5}) != version_id(end, {"epochs": 6})
    assert version_id(end, {}).startswith("20261121t100000-")


def test_training_window_params():
    from datetime import UTC, datetime, timedelta

    from jobs.recsys import window

    run = datetime(2026, 11, 21, 6, tzinfo=UTC)
    assert window("", "", default_end=run) == (run - timedelta(days=14), run)
    assert window("2026-11-01", "2026-11-15", default_end=run) == (datetime(2026, 11, 1, tzinfo=UTC),
                                                                   datetime(2026, 11, 15, tzinfo=UTC))
    with pytest.raises(ValueError, match="not before"):
        window("2026-11-15", "2026-11-01", default_end=run)
