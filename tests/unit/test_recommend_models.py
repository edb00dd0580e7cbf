"""Issue 6 part A: data split, metrics, two-tower, ANN, ranker (small synthetic data, CPU, a few seconds each)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from recommend.ann import AnnIndex
from recommend.data import (
    PAD,
    Interactions,
    example_histories,
    freshness_table,
    item_freshness,
    leave_last_out_split,
    load_movielens_100k,
    time_split,
    user_histories,
)
from recommend.evaluate import (
    evaluate_scorer,
    ndcg_at_k,
    random_scorer,
    ratio_interval,
    recall_at_k,
    recall_per_user,
    two_tower_scorer,
)
from recommend.ranker import Ranker, RankerConfig, RankerFeatures
from recommend.two_tower import ItemSideFeatures, TwoTower, TwoTowerConfig, hash_tokens, in_batch_logits


def planted(n_users: int = 60, n_items: int = 80, per_user: int = 30, seed: int = 0) -> Interactions:
    """Two groups: users of group g only interact with items of group g (items split in halves)."""
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(n_users):
        g = u % 2
        pool = np.arange(g * n_items // 2, (g + 1) * n_items // 2)
        for j, it in enumerate(rng.choice(pool, per_user, replace=False)):
            users.append(f"u{u}")
            items.append(f"i{it}")
            ts.append(1000.0 * j + rng.random())
    return Interactions.from_ids(users, items, ts)


# -- data -----------------------------------------------------------------------------------------------

def test_time_split_has_no_leakage():
    data = planted()
    train, test = time_split(data, 0.25)
    assert len(train) + len(test) == len(data)
    assert train.timestamp.max() < test.timestamp.min()
    assert 0.2 < len(test) / len(data) < 0.3
    assert train.user_ids == test.user_ids == data.user_ids  # shared vocabularies keep indices comparable


def test_histories_exclude_the_future_and_the_target():
    data = Interactions.from_ids(["a", "a", "a", "b"], ["x", "y", "z", "x"], [1.0, 2.0, 3.0, 5.0])
    h = user_histories(data, 2, as_of=2.5)
    a, b = data.user_index(["a", "b"])
    assert h[a].tolist() == list(data.item_index(["x", "y"]))
    assert h[b].tolist() == [PAD, PAD]
    ex = example_histories(data, 2)
    x, y, _ = data.item_index(["x", "y", "z"])
    assert ex.tolist() == [[PAD, PAD], [PAD, x], [x, y], [PAD, PAD]]


def test_leave_last_out_split_holds_out_each_users_latest_positives():
    # a: 4 positives (the skip z never counts); b: 2 positives, too few to hold out 2 and keep a history.
    data = Interactions.from_ids(["a"] * 5 + ["b"] * 2, ["w", "x", "y", "z", "v", "x", "y"],
                                 [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0], [1, 1, 1, 0, 1, 1, 1])
    train, test = leave_last_out_split(data, 2)
    assert len(train) + len(test) == len(data) and train.user_ids == data.user_ids
    a, b = data.user_index(["a", "b"])
    assert sorted(data.item_ids[i] for i in test.item_idx[test.user_idx == a]) == ["v", "y"]
    assert not (test.user_idx == b).any()
    assert (test.weight > 0).all()
    with pytest.raises(ValueError):
        leave_last_out_split(data, 0)


def test_freshness_features_are_causal_and_match_as_of():
    day = 86400.0
    # Item x: one positive on days 0, 1, 1, 5; item y: a skip on day 2 (not a positive) and one on day 9.
    data = Interactions.from_ids(["a", "b", "c", "d", "a", "b"], ["x", "x", "x", "x", "y", "y"],
                                 np.array([0.5, 1.2, 1.7, 5.1, 2.0, 9.3]) * day, [1, 1, 1, 1, 0, 1])
    table, d0 = freshness_table(data, windows=(1, 7))
    x, y = data.item_index(["x", "y"])
    assert d0 == 0 and table.shape == (11, 2, 4)  # buckets 0..9 plus "as of the end"
    # As of the start of day 2: x has 2 positives in the last day, 3 in the last 7, 3 in all, first seen 2 days ago.
    np.testing.assert_allclose(table[2, x], np.log1p([2, 3, 3, 2]))
    np.testing.assert_allclose(table[1, x], np.log1p([1, 1, 1, 1]))  # day 1's own events do not count yet
    np.testing.assert_allclose(table[9, y], 0.0)  # only a skip before day 9: nothing
    np.testing.assert_allclose(table[10, y], np.log1p([1, 1, 1, 1]))
    np.testing.assert_allclose(table[0], 0.0)
    for r in range(11):  # any time inside bucket r gives row r
        np.testing.assert_allclose(item_freshness(data, (r + 0.99) * day, windows=(1, 7)), table[r])


def test_hostile_data_inputs():
    with pytest.raises(ValueError):
        time_split(Interactions.from_ids([], [], []))
    with pytest.raises(ValueError):
        time_split(planted(), 1.5)
    with pytest.raises(ValueError, match="rows"):
        Interactions(np.zeros(2, np.int32), np.zeros(3, np.int32), np.zeros(2), np.ones(2, np.float32), ("u",), ("i",))
    with pytest.raises(KeyError, match="unknown user"):
        planted().user_index(["nobody"])
    with pytest.raises(FileNotFoundError, match="./dev setup"):
        load_movielens_100k("/nonexistent/ml-100k.inter")


# -- metrics ----------------------------------------------------------------------------------------------

def test_recall_and_ndcg_on_hand_cases():
    ranked = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    relevant = [{1, 9}, {8}]
    assert recall_at_k(ranked, relevant, 2) == pytest.approx((0.5 + 0.0) / 2)
    assert recall_at_k(ranked, relevant, 4) == pytest.approx((0.5 + 1.0) / 2)
    # user 0: hit at rank 1 of 2 relevant -> 1 / (1 + 1/log2(3)); user 1: hit at rank 4 -> (1/log2(5)) / 1
    ideal0 = 1 + 1 / np.log2(3)
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx((1 / ideal0 + 1 / np.log2(5)) / 2)
    assert ndcg_at_k(np.array([[1, 9]]), [{1, 9}], 2) == pytest.approx(1.0)
    assert recall_at_k(ranked, [set(), set()], 2) == 0.0  # users without relevant items are skipped
    assert recall_per_user(ranked, [{1, 9}, set(), {8}][:2], 4).tolist() == [0.5]


def test_ratio_interval_brackets_the_ratio_and_narrows_with_more_users():
    rng = np.random.default_rng(1)
    a_small, b_small = rng.random(100) * 0.6, rng.random(100) * 0.4
    lo, hi = ratio_interval(a_small, b_small)
    assert lo < a_small.mean() / b_small.mean() < hi
    a_big, b_big = rng.random(10_000) * 0.6, rng.random(10_000) * 0.4
    lo_big, hi_big = ratio_interval(a_big, b_big)
    assert lo_big < 1.5 < hi_big and hi_big - lo_big < (hi - lo) / 5  # ~sqrt(100) narrower
    with pytest.raises(ValueError, match="equal-length"):
        ratio_interval(a_small, b_small[:50])


def test_evaluation_excludes_items_seen_in_train():
    train = Interactions.from_ids(["a", "a"], ["x", "y"], [1.0, 2.0])
    test = Interactions(train.user_idx[:1], train.item_idx[:1] * 0 + 0, np.array([3.0]), np.ones(1, np.float32),
                        train.user_ids, train.item_ids)
    # Only test item is x, already seen in train: no evaluable user.
    with pytest.raises(ValueError, match="no user"):
        evaluate_scorer("r", random_scorer(train.n_items), train, test, ks=(1,), ndcg_ks=(1,))


# -- two-tower --------------------------------------------------------------------------------------------

def test_logq_correction_on_a_hand_case():
    u = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    v = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    items = tf.constant([0, 1])
    log_q = tf.constant([np.log(0.5), np.log(0.01)], tf.float32)
    plain = in_batch_logits(u, v, items, None, 0.5).numpy()
    corrected = in_batch_logits(u, v, items, log_q, 0.5).numpy()
    np.testing.assert_allclose(plain, [[2.0, 0.0], [0.0, 2.0]])
    # Each column loses log q of its item: the rare item (q = 0.01) gains more than the popular one.
    np.testing.assert_allclose(corrected - plain, [[-np.log(0.5), -np.log(0.01)]] * 2, rtol=1e-6)
    # Duplicates of the positive in other columns are masked out.
    dup = in_batch_logits(u, v, tf.constant([3, 3]), None, 0.5).numpy()
    assert dup[0, 1] < -1e8 and dup[1, 0] < -1e8 and dup[0, 0] == 2.0


@pytest.fixture(scope="module")
def trained_planted():
    data = planted()
    train, test = time_split(data, 0.3)
    # Freshness on (off by default) with hour buckets: the planted events span ~8 hours.
    model = TwoTower(TwoTowerConfig(embedding_dim=16, history_len=5, temperature=0.2, learning_rate=0.02,
                                    freshness=True, freshness_bucket_s=3600.0))
    report = model.fit(train, epochs=8, batch_size=64)
    return model, train, test, report


def test_two_tower_learns_planted_groups(trained_planted):
    model, train, test, report = trained_planted
    assert len(report.seconds_per_epoch) == 8 and report.loss[-1] < report.loss[0]
    res = evaluate_scorer("tt", two_tower_scorer(model, train), train, test, ks=(10,), ndcg_ks=(10,))
    rnd = evaluate_scorer("rnd", random_scorer(train.n_items), train, test, ks=(10,), ndcg_ks=(10,))
    assert res.recall[10] > 1.6 * rnd.recall[10]
    # Group structure: users score their own group's items above the other group's.
    hist = user_histories(train, 5)
    uv, iv = model.user_vectors(np.arange(train.n_users), hist), model.item_vectors()
    s = uv @ iv.T
    group_u = np.array([int(x[1:]) % 2 for x in train.user_ids])
    group_i = np.array([int(int(x[1:]) >= 40) for x in train.item_ids])
    same = s[group_u[:, None] == group_i[None, :]].mean()
    other = s[group_u[:, None] != group_i[None, :]].mean()
    assert same > other + 0.3


def test_served_vectors_reproduce_the_training_logit(trained_planted):
    # user [u / T, 1] . item [v, bias] = cos(u, v) / T + bias, with u and v unit vectors (ANN-ready).
    model, train, _, _ = trained_planted
    d, t = model.config.embedding_dim, model.config.temperature
    uv = model.user_vectors(np.arange(train.n_users), user_histories(train, 5))
    iv = model.item_vectors()
    np.testing.assert_allclose(np.linalg.norm(uv[:, :d] * t, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(iv[:, :d], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(uv[:, d], 1.0)
    np.testing.assert_allclose(uv @ iv.T, (uv[:, :d] @ iv[:, :d].T) + iv[:, d][None, :], rtol=1e-5, atol=1e-5)


def test_two_tower_save_load_round_trip(trained_planted, tmp_path):
    model, train, _, _ = trained_planted
    hist = user_histories(train, 5)
    users = np.arange(train.n_users)
    model.save(tmp_path / "tt")
    loaded = TwoTower.load(tmp_path / "tt")
    np.testing.assert_array_equal(loaded.item_vectors(), model.item_vectors())
    np.testing.assert_array_equal(loaded.user_vectors(users, hist), model.user_vectors(users, hist))
    assert loaded.user_ids == model.user_ids
    assert sum(f.stat().st_size for f in (tmp_path / "tt").iterdir()) < 200_000


def test_freshness_bias_defaults_to_the_end_of_training(trained_planted, tmp_path):
    model, train, _, _ = trained_planted
    d = model.config.embedding_dim
    assert model.config.freshness and model.config.history_position_weights
    end = item_freshness(train, train.timestamp.max() + 3600.0, bucket_s=3600.0)
    default = model.item_vectors()
    np.testing.assert_allclose(model.item_vectors(freshness=end), default, rtol=1e-6)
    # Earlier features (before any event): the embedding part is unchanged, only the bias moves.
    early = model.item_vectors(freshness=np.zeros_like(end))
    np.testing.assert_array_equal(early[:, :d], default[:, :d])
    assert not np.allclose(early[:, d], default[:, d])
    np.testing.assert_allclose(model.item_vectors(np.array([3, 1]), freshness=end), default[[3, 1]], rtol=1e-6)
    with pytest.raises(ValueError, match="freshness"):
        model.item_vectors(freshness=end[:5])


def test_models_saved_before_freshness_still_load(tmp_path):
    data = planted(n_users=10, n_items=12, per_user=5)
    model = TwoTower(TwoTowerConfig(embedding_dim=4, history_len=3, freshness=False, history_position_weights=False))
    model.fit(data, epochs=1, batch_size=16)
    model.save(tmp_path / "old")
    cfg_file = tmp_path / "old" / "config.json"
    meta = json.loads(cfg_file.read_text())
    for key in ("freshness", "freshness_bucket_s", "freshness_windows", "freshness_hidden", "freshness_horizon",
                "history_position_weights"):
        del meta["config"][key]  # what an older version wrote
    meta["config"]["item_bias_static"] = True  # a field since removed; True was its only served value
    cfg_file.write_text(json.dumps(meta))
    loaded = TwoTower.load(tmp_path / "old")
    assert not loaded.config.freshness and not loaded.config.history_position_weights
    np.testing.assert_array_equal(loaded.item_vectors(), model.item_vectors())

    meta["config"]["item_bias_static"] = False  # a model this version cannot rebuild: refused by name
    cfg_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="item_bias_static=False"):
        TwoTower.load(tmp_path / "old")


def test_two_tower_serving_rejects_hostile_inputs(trained_planted):
    model, train, _, _ = trained_planted
    with pytest.raises(KeyError, match="unknown user"):
        model.user_index(["stranger"])
    assert model.user_index(["stranger"], strict=False).tolist() == [-1]
    cold = model.user_vectors(np.array([-1]), np.full((1, 5), PAD))  # cold user, empty history: still a vector
    assert np.isfinite(cold).all()
    with pytest.raises(KeyError, match="unknown item"):
        model.item_index(["i999"])
    with pytest.raises(ValueError, match="shape"):
        model.user_vectors(np.arange(3), np.zeros((3, 4), np.int32))
    with pytest.raises(ValueError, match="out of range"):
        model.user_vectors(np.array([train.n_users]), np.zeros((1, 5), np.int32))
    with pytest.raises(ValueError, match="out of range"):
        model.item_vectors(np.array([train.n_items]))
    with pytest.raises(ValueError, match="without positives"):
        TwoTower().fit(Interactions.from_ids([], [], []), epochs=1)
    with pytest.raises(RuntimeError):
        TwoTower().item_vectors()
    with pytest.raises(ValueError, match="item_bias"):
        TwoTowerConfig(freshness=True, item_bias=False)


def test_two_tower_with_side_features_and_skips():
    data = planted(n_users=20, n_items=30, per_user=10)
    w = data.weight.copy()
    w[::5] = 0.0  # every fifth event is a skip: an explicit negative
    data = Interactions(data.user_idx, data.item_idx, data.timestamp, w, data.user_ids, data.item_ids)
    rng = np.random.default_rng(1)
    side = ItemSideFeatures(content=rng.normal(size=(data.n_items, 12)).astype(np.float32),
                            tokens=hash_tokens([[f"creator:{i % 4}", "tag:x"] for i in range(data.n_items)], 64, 3))
    model = TwoTower(TwoTowerConfig(embedding_dim=8, history_len=3, hash_buckets=64, use_hour=True))
    report = model.fit(data, epochs=2, batch_size=32, side=side)
    assert np.isfinite(report.loss).all()
    assert model.item_vectors().shape == (data.n_items, model.vector_dim) and model.vector_dim == 9  # + item bias
    with pytest.raises(ValueError, match="side.content"):
        TwoTower().fit(data, epochs=1, side=ItemSideFeatures(content=np.zeros((3, 4), np.float32)))


# -- ANN ----------------------------------------------------------------------------------------------------

def test_ann_exact_top_k_on_small_data(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(500, 16)).astype(np.float32)
    ids = np.array([f"v{i}" for i in range(500)])
    q = rng.normal(size=(7, 16)).astype(np.float32)
    index = AnnIndex().build(ids, vecs)
    assert index.built_kind == "flat"
    got_ids, got_scores = index.search(q, 10)
    truth = np.argsort(-(q @ vecs.T), axis=1)[:, :10]
    assert (got_ids == ids[truth]).all()
    np.testing.assert_allclose(got_scores, np.take_along_axis(q @ vecs.T, truth, axis=1), rtol=1e-5)
    index.save(tmp_path / "ann")
    again = AnnIndex.load(tmp_path / "ann")
    assert (again.search(q, 10)[0] == got_ids).all()
    # More neighbours than items: padded with -inf scores.
    small = AnnIndex().build(np.array([1, 2]), vecs[:2])
    sid, ssc = small.search(q[:1], 5)
    assert sid.shape == (1, 5) and np.isinf(ssc[0, 2:]).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_matches_brute_force_on_random_data(kind):
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(5000, 32)).astype(np.float32)
    q = rng.normal(size=(50, 32)).astype(np.float32)
    # Random gaussians are the worst case for IVF (no clusters): probe half the lists.
    index = AnnIndex(kind, nprobe=64, ef_search=256).build(np.arange(5000), vecs)
    got, _ = index.search(q, 20)
    truth = np.argsort(-(q @ vecs.T), axis=1)[:, :20]
    recall = np.mean([len(set(g) & set(t)) / 20 for g, t in zip(got, truth, strict=True)])
    assert recall >= 0.95, recall


def test_ann_hostile_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        AnnIndex().build(np.array([]), np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError, match="ids for"):
        AnnIndex().build(np.arange(3), np.zeros((2, 8), np.float32))
    with pytest.raises(RuntimeError):
        AnnIndex().search(np.zeros((1, 8)), 3)
    index = AnnIndex().build(np.arange(4), np.eye(4, 8, dtype=np.float32))
    with pytest.raises(ValueError, match="queries"):
        index.search(np.zeros((1, 5)), 3)
    with pytest.raises(ValueError):
        AnnIndex("lsh")


# -- ranker ------------------------------------------------------------------------------------------------

def ranker_data(n: int, cfg: RankerConfig, seed: int = 0) -> tuple[RankerFeatures, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = RankerFeatures(user=rng.normal(size=(n, cfg.user_dim)).astype(np.float32),
                       item=rng.normal(size=(n, cfg.item_dim)).astype(np.float32),
                       hour=rng.integers(0, 24, n), region=rng.integers(0, cfg.n_regions, n),
                       dense=rng.normal(size=(n, cfg.n_dense)).astype(np.float32))
    # Planted: completion follows dense feature 0 (e.g. retrieval score); likes follow dense feature 1.
    completion = (rng.random(n) < 1 / (1 + np.exp(-3 * f.dense[:, 0]))).astype(np.float32)
    like = (rng.random(n) < 1 / (1 + np.exp(-3 * f.dense[:, 1] + 1))).astype(np.float32)
    return f, completion, like


@pytest.mark.parametrize("experts", [0, 3])
def test_ranker_learns_planted_completion_signal(experts, tmp_path):
    cfg = RankerConfig(user_dim=8, item_dim=8, n_dense=3, n_regions=4, hidden=(32, 16), experts=experts)
    f, yc, yl = ranker_data(6000, cfg)
    ranker = Ranker(cfg)
    ranker.fit(f, yc, yl, epochs=4, batch_size=256)
    test, tc, _ = ranker_data(500, cfg, seed=1)  # 500 candidates, as served
    p = ranker.predict_heads(test)
    order = np.argsort(-p[:, 0])
    assert tc[order[:100]].mean() > tc[order[-100:]].mean() + 0.4
    assert np.corrcoef(p[:, 0], test.dense[:, 0])[0, 1] > 0.8
    scores = ranker.score(test)
    assert scores.shape == (500,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, cfg.completion_weight * p[:, 0] + cfg.like_weight * p[:, 1], rtol=1e-5)
    np.testing.assert_allclose(ranker.score_eager(test), scores, rtol=1e-5, atol=1e-6)
    ranker.save(tmp_path / "rk")
    np.testing.assert_array_equal(Ranker.load(tmp_path / "rk").score(test), scores)


def test_ranker_hostile_inputs():
    cfg = RankerConfig(user_dim=4, item_dim=4, n_dense=2, n_regions=2, hidden=(8,))
    ranker = Ranker(cfg)
    f, yc, yl = ranker_data(10, cfg)
    with pytest.raises(ValueError, match="shapes"):
        ranker.score(RankerFeatures(f.user[:, :3], f.item, f.hour, f.region, f.dense))
    with pytest.raises(ValueError, match="hour and region"):
        ranker.score(RankerFeatures(f.user, f.item, f.hour[:5], f.region, f.dense))
    with pytest.raises(ValueError, match="region"):
        ranker.score(RankerFeatures(f.user, f.item, f.hour, f.region + 5, f.dense))
    bad = f.dense.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ranker.score(RankerFeatures(f.user, f.item, f.hour, f.region, bad))
    with pytest.raises(ValueError, match="labels"):
        ranker.fit(f, yc[:3], yl)
    with pytest.raises(ValueError, match="zero"):
        ranker.fit(f.take(np.array([], int)), yc[:0], yl[:0])
