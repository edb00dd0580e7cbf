"""The trained ranker on a feed page, without services: features as training builds them, the blend with the
light ranker, unknown videos, bad user vectors, the region vocabulary and the Redis encoding of user vectors."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import live_store as live
from recommend import blended_ranking as model_ranking
from recommend import light_ranker as ranking
from recommend.blended_ranking import BadUserVector, ModelBundle
from recommend.ranker import Ranker, RankerConfig, RankerFeatures, region_indices, region_vocabulary

DIM = 8


def _cand(vid: str, *, retrieval: float = 0.5, age_h: float = 10.0, views: int = 100, likes: int = 5,
          creator: str | None = None) -> ranking.Candidate:
    return ranking.Candidate(vid, creator or f"c{vid}", (), None, None, age_h, retrieval, views, likes)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    """A small ranker trained on a planted signal: completion follows the user . item product (dense[0])."""
    cfg = RankerConfig(user_dim=DIM, item_dim=DIM, n_regions=4, hidden=(16,), head_hidden=8)
    rng = np.random.default_rng(0)
    n = 4000
    user = rng.normal(size=(n, DIM)).astype(np.float32)
    item = rng.normal(size=(n, DIM)).astype(np.float32)
    dense = model_ranking.dense_features(user, item, rng.uniform(0, 100, n), rng.integers(0, 1000, n),
                                         rng.integers(0, 50, n))
    completion = (rng.random(n) < 1 / (1 + np.exp(-dense[:, 0]))).astype(np.float32)
    regions = region_vocabulary(["eu"] * 5 + ["us"] * 3 + ["br"], cfg.n_regions)
    feats = RankerFeatures(user, item, rng.integers(0, 24, n), region_indices(regions, ["eu"] * n, 4), dense)
    ranker = Ranker(cfg, regions=regions)
    ranker.fit(feats, completion, completion * 0, epochs=3, batch_size=256)
    items = rng.normal(size=(30, DIM)).astype(np.float32)
    return ModelBundle(ranker, "r1", "tt1", {f"v{i}": i for i in range(30)}, items)


def test_region_vocabulary_keeps_the_most_frequent_and_maps_the_rest_to_other():
    vocab = region_vocabulary(["eu", "us", "eu", "br", "us", "eu", "jp"], 3)
    assert vocab == ("eu", "us")  # 2 rows of their own, the third (index 2) is "other"
    assert region_indices(vocab, ["us", "eu", "jp", "mars"], 3).tolist() == [1, 0, 2, 2]
    assert region_vocabulary(["b", "a"], 16) == ("a", "b")  # ties by name: deterministic


def test_ranker_saves_its_region_vocabulary_and_refuses_old_saves(tmp_path):
    cfg = RankerConfig(user_dim=4, item_dim=4, n_regions=3, hidden=(4,))
    Ranker(cfg, regions=("eu", "us")).save(tmp_path / "new")
    loaded = Ranker.load(tmp_path / "new")
    assert loaded.regions == ("eu", "us") and loaded.region_index(["us", "xx"]).tolist() == [1, 2]
    Ranker(cfg).save(tmp_path / "old")  # as saved before the vocabulary was recorded
    old = Ranker.load(tmp_path / "old")
    assert old.regions is None
    with pytest.raises(ValueError, match="region vocabulary"):
        old.region_index(["eu"])
    with pytest.raises(ValueError, match="do not fit"):
        Ranker(cfg, regions=("a", "b", "c"))  # no row left for "other"


def test_model_scores_build_the_features_training_builds(bundle):
    cands = [_cand(f"v{i}", age_h=i * 3.0, views=i * 10, likes=i) for i in range(12)]
    user = np.linspace(-1, 1, DIM).astype(np.float32)
    got, known = model_ranking.model_scores(bundle, cands, user, hour=27, region="us")
    assert known.all()
    item = bundle.item_vectors[:12]
    users = np.repeat(user[None], 12, axis=0)
    dense = np.stack([(users * item).sum(1), np.log1p([c.age_h for c in cands]), np.log1p([c.views for c in cands]),
                      np.log1p([c.likes for c in cands])], axis=1).astype(np.float32)
    want = bundle.ranker.score(RankerFeatures(users, item, np.full(12, 3), np.full(12, 1), dense))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_unknown_videos_sit_at_the_median_and_known_ones_follow_the_model(bundle):
    user = np.ones(DIM, np.float32)
    cands = [_cand(f"v{i}") for i in range(10)] + [_cand("new1"), _cand("new2")]  # same light features
    light = ranking.score(cands, {}, {})
    model, known = model_ranking.model_scores(bundle, cands, user, hour=12, region="eu")
    assert known.tolist() == [True] * 10 + [False, False] and (model[~known] == 0).all()
    final = model_ranking.blend(light, model, known, 2.0)
    np.testing.assert_allclose(final[10:] - light[10:], 1.0)  # weight x median
    order = np.argsort(-final[:10], kind="stable")
    np.testing.assert_array_equal(order, np.argsort(-model[:10], kind="stable"))
    np.testing.assert_allclose(sorted(final[:10] - light[:10]), np.linspace(0, 2.0, 10), atol=1e-9)
    # The planted signal: the model prefers items with a larger user . item product.
    dots = bundle.item_vectors[:10] @ user
    assert np.corrcoef(model[:10], dots)[0, 1] > 0.8


def test_the_weight_moves_the_order_from_the_light_ranker_to_the_model(bundle):
    user = np.ones(DIM, np.float32)
    dots = bundle.item_vectors[:20] @ user
    # Retrieval (the pool's score) says the opposite of the model: the light ranker reverses the model's order.
    cands = [_cand(f"v{i}", retrieval=-float(dots[i])) for i in range(20)]
    light_order = np.argsort(-ranking.score(cands, {}, {}), kind="stable")
    model, _ = model_ranking.model_scores(bundle, cands, user, hour=0, region="eu")
    model_order = np.argsort(-model, kind="stable")
    kw = dict(bundle=bundle, user_vec=user, hour=0, region="eu")
    assert np.argsort(-model_ranking.score(cands, {}, {}, weight=0.0, **kw), kind="stable").tolist() == \
        light_order.tolist()
    assert np.argsort(-model_ranking.score(cands, {}, {}, weight=100.0, **kw), kind="stable").tolist() == \
        model_order.tolist()
    default = np.argsort(-model_ranking.score(cands, {}, {}, **kw), kind="stable")
    assert default[0] != light_order[0]  # at the default weight the model changes the head of the page
    assert model_ranking.score([], {}, {}, **kw).shape == (0,)


def test_a_lone_known_candidate_or_none_leaves_the_light_order(bundle):
    cands = [_cand("v1", retrieval=0.1), _cand("new", retrieval=0.9), _cand("new2", retrieval=0.5)]
    final = model_ranking.score(cands, {}, {}, bundle=bundle, user_vec=np.ones(DIM), hour=0, region="eu")
    light = ranking.score(cands, {}, {})
    np.testing.assert_allclose(final - light, 0.75)  # everyone at the median: the light order stands


@pytest.mark.parametrize("vec", [np.ones(DIM + 1), np.ones((2, DIM)), np.array([np.nan] * DIM),
                                 np.array([np.inf] + [0.0] * (DIM - 1))])
def test_bad_user_vectors_are_refused(bundle, vec):
    with pytest.raises(BadUserVector):
        model_ranking.model_scores(bundle, [_cand("v1")], vec, hour=0, region="eu")


def test_user_vectors_round_trip_through_their_redis_encoding():
    vec = np.array([0.5, -1.25, 3e-8, 7.0], np.float32)
    version, back = live.decode_user_vector(live.encode_user_vector("20260101t000000-abcd1234", vec))
    assert version == "20260101t000000-abcd1234" and back.dtype == np.float32
    np.testing.assert_array_equal(back, vec)
    assert live.decode_user_vector(live.encode_user_vector("v1", vec).encode())[0] == "v1"
    for raw in ["", "no-separator", ":AAAAAA==", "v1:not base64!", "v1:AAA=", "v1:"]:
        with pytest.raises(ValueError):
            live.decode_user_vector(raw)


def test_tflite_scores_match_the_tf_function_at_every_batch_size(bundle):
    from recommend.ranker_tflite import BUCKETS, LiteScorer

    lite = LiteScorer.build(bundle.ranker)
    assert lite is not None, "TFLite conversion is expected to work with TensorFlow 2.21"
    fast = ModelBundle(bundle.ranker, "r1", "tt1", bundle.item_rows, bundle.item_vectors, lite)
    user = np.linspace(-1, 1, DIM).astype(np.float32)
    for n in (1, 12, 30):  # the page sizes: a padded bucket each time
        cands = [_cand(f"v{i}", age_h=i, views=3 * i) for i in range(n)] + [_cand("unknown")]
        slow, known = model_ranking.model_scores(bundle, cands, user, hour=5, region="br")
        quick, known2 = model_ranking.model_scores(fast, cands, user, hour=5, region="br")
        assert (known == known2).all()
        np.testing.assert_allclose(quick, slow, atol=1e-5)
    rng = np.random.default_rng(5)
    m = BUCKETS[-1] * 2 + 7  # chunked above the largest bucket
    f = RankerFeatures(rng.normal(size=(m, DIM)).astype(np.float32), rng.normal(size=(m, DIM)).astype(np.float32),
                       rng.integers(0, 24, m), rng.integers(0, 4, m), rng.normal(size=(m, 4)).astype(np.float32))
    np.testing.assert_allclose(lite.score(f), bundle.ranker.score(f), atol=1e-5)
