"""Multi-task ranker: completion and like heads over a shared bottom or MMoE, combined into one score.

Features per (user, candidate): the two-tower user and item vectors and their element-wise product (a cheap
cross), hour of day and region (embeddings), and a few dense features (retrieval score, item age, live
counts...; standardised with statistics from fit). Scoring 500 candidates goes through one ``tf.function``
with a fixed signature: ~10x faster than an eager ``model(x)`` here (bench/recommend.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recommend.model_files import assign_weights, read_meta, save_model_dir
from recommend.two_tower import TrainReport

FORMAT = "reelflow-ranker/1"


def region_vocabulary(regions: Iterable[str], n_regions: int) -> tuple[str, ...]:
    """The regions that get an embedding row of their own: the ``n_regions - 1`` most frequent (ties by
    name, so the vocabulary is deterministic). The last row is "other", for regions outside the vocabulary
    (a region new since training, or one too rare to keep), so serving never has to guess an index."""
    counts = Counter(regions)
    return tuple(sorted(counts, key=lambda r: (-counts[r], r))[:max(n_regions - 1, 0)])


def region_indices(vocab: Sequence[str], regions: Iterable[str], n_regions: int) -> np.ndarray:
    """Embedding rows for ``regions`` under ``vocab``; unknown regions get the "other" row, n_regions - 1."""
    table = {r: i for i, r in enumerate(vocab)}
    other = max(n_regions - 1, 0)
    return np.array([table.get(r, other) for r in regions], np.int32)


@dataclass(frozen=True)
class RankerConfig:
    user_dim: int = 64
    item_dim: int = 64
    n_dense: int = 4
    n_regions: int = 16
    hidden: tuple[int, ...] = (128, 64)
    experts: int = 0  # 0: shared bottom; > 0: MMoE with that many experts
    head_hidden: int = 32
    completion_weight: float = 1.0
    like_weight: float = 0.5
    learning_rate: float = 0.003
    seed: int = 0


@dataclass
class RankerFeatures:
    user: np.ndarray  # (n, user_dim) float32
    item: np.ndarray  # (n, item_dim) float32
    hour: np.ndarray  # (n,) int in [0, 24)
    region: np.ndarray  # (n,) int in [0, n_regions)
    dense: np.ndarray  # (n, n_dense) float32

    def __len__(self) -> int:
        return len(self.user)

    def take(self, idx: np.ndarray) -> RankerFeatures:
        return RankerFeatures(self.user[idx], self.item[idx], self.hour[idx], self.region[idx], self.dense[idx])


class _Net(keras.Model):
    def __init__(self, cfg: RankerConfig):
        super().__init__()
        self.cfg = cfg
        seed = cfg.seed

        def dense(units: int, act: str | None = "relu") -> keras.layers.Dense:
            nonlocal seed
            seed += 1
            return keras.layers.Dense(units, activation=act, kernel_initializer=keras.initializers.GlorotUniform(seed))

        emb_init = keras.initializers.RandomNormal(stddev=0.05, seed=seed)
        self.hour_emb = keras.layers.Embedding(24, 8, embeddings_initializer=emb_init)
        self.region_emb = keras.layers.Embedding(max(cfg.n_regions, 1), 8, embeddings_initializer=emb_init)
        n_towers = max(cfg.experts, 1)
        self.experts_ = [[dense(h) for h in cfg.hidden] for _ in range(n_towers)]
        self.gates = [dense(cfg.experts, "softmax") for _ in range(2)] if cfg.experts else []
        self.heads = [[dense(cfg.head_hidden), dense(1, None)] for _ in range(2)]
        self.dense_mean = self.add_weight(shape=(cfg.n_dense,), initializer="zeros", trainable=False, name="mean")
        self.dense_std = self.add_weight(shape=(cfg.n_dense,), initializer="ones", trainable=False, name="std")

    def logits(self, user, item, hour, region, dense_x):
        z = (dense_x - self.dense_mean) / self.dense_std
        x = tf.concat([user, item, user * item, self.hour_emb(hour), self.region_emb(region), z], axis=-1)
        outs = []
        for layers in self.experts_:
            h = x
            for layer in layers:
                h = layer(h)
            outs.append(h)
        if self.cfg.experts:
            stack = tf.stack(outs, axis=1)  # (n, experts, h)
            towers = [tf.reduce_sum(stack * g(x)[..., None], axis=1) for g in self.gates]
        else:
            towers = [outs[0], outs[0]]
        return [head[1](head[0](t))[:, 0] for head, t in zip(self.heads, towers, strict=True)]


class Ranker:
    def __init__(self, config: RankerConfig | None = None, regions: Sequence[str] | None = None):
        self.config = config or RankerConfig()
        # The region vocabulary the embedding rows were trained with (saved with the weights, because
        # serving must map a viewer's region to the same row). None: a ranker saved before it was recorded.
        if regions is not None and len(regions) > max(self.config.n_regions - 1, 0):
            raise ValueError(f"{len(regions)} regions do not fit {self.config.n_regions} rows with one for other")
        self.regions = tuple(regions) if regions is not None else None
        tf.random.set_seed(self.config.seed)
        self._net = _Net(self.config)
        c = self.config
        self._net.logits(tf.zeros([1, c.user_dim]), tf.zeros([1, c.item_dim]), tf.zeros([1], tf.int32),
                         tf.zeros([1], tf.int32), tf.zeros([1, c.n_dense]))
        spec = [tf.TensorSpec([None, c.user_dim], tf.float32), tf.TensorSpec([None, c.item_dim], tf.float32),
                tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None, c.n_dense], tf.float32)]
        net, wc, wl = self._net, c.completion_weight, c.like_weight

        def combined(user, item, hour, region, dense_x):
            lc, ll = net.logits(user, item, hour, region, dense_x)
            return wc * tf.sigmoid(lc) + wl * tf.sigmoid(ll)

        self._combined_eager = combined
        self._serve = tf.function(combined, input_signature=spec)
        self._heads = tf.function(lambda *a: tf.stack([tf.sigmoid(t) for t in net.logits(*a)], axis=1),
                                  input_signature=spec)
        self._spec = spec
        self.fitted = False

    def _arrays(self, f: RankerFeatures) -> list[np.ndarray]:
        c = self.config
        n = len(f.user)
        user, item = np.asarray(f.user, np.float32), np.asarray(f.item, np.float32)
        hour, region = np.asarray(f.hour, np.int32), np.asarray(f.region, np.int32)
        dense_x = np.asarray(f.dense, np.float32)
        if user.shape != (n, c.user_dim) or item.shape != (n, c.item_dim) or dense_x.shape != (n, c.n_dense):
            raise ValueError(f"feature shapes user {user.shape}, item {item.shape}, dense {dense_x.shape}; expected "
                             f"({n}, {c.user_dim}), ({n}, {c.item_dim}), ({n}, {c.n_dense})")
        if hour.shape != (n,) or region.shape != (n,):
            raise ValueError(f"hour and region must have shape ({n},), got {hour.shape} and {region.shape}")
        if n and (hour.min() < 0 or hour.max() > 23):
            raise ValueError("hour must be in [0, 24)")
        if n and (region.min() < 0 or region.max() >= max(c.n_regions, 1)):
            raise ValueError(f"region must be in [0, {c.n_regions})")
        if not (np.isfinite(user).all() and np.isfinite(item).all() and np.isfinite(dense_x).all()):
            raise ValueError("features contain NaN or inf")
        return [user, item, hour, region, dense_x]

    def fit(self, features: RankerFeatures, completion: np.ndarray, like: np.ndarray, *, epochs: int = 5,
            batch_size: int = 1024, verbose: bool = False) -> TrainReport:
        arrays = self._arrays(features)
        n = len(features)
        yc, yl = np.asarray(completion, np.float32), np.asarray(like, np.float32)
        if n == 0:
            raise ValueError("cannot fit the ranker on zero examples")
        if yc.shape != (n,) or yl.shape != (n,):
            raise ValueError(f"labels must have shape ({n},)")
        net = self._net
        net.dense_mean.assign(arrays[4].mean(axis=0))
        net.dense_std.assign(np.maximum(arrays[4].std(axis=0), 1e-6))
        opt = keras.optimizers.Adam(learning_rate=self.config.learning_rate)
        variables = net.trainable_variables

        labels = tf.TensorSpec([None], tf.float32)

        @tf.function(input_signature=[*self._spec, labels, labels])
        def step(user, item, hour, region, dense_x, tc, tl):
            with tf.GradientTape() as tape:
                lc, ll = net.logits(user, item, hour, region, dense_x)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tc, logits=lc)) + \
                    tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tl, logits=ll))
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return loss

        rng = np.random.default_rng(self.config.seed)
        report = TrainReport(epochs=epochs, examples=n)
        for ep in range(epochs):
            t0, total, batches = time.perf_counter(), 0.0, 0
            perm = rng.permutation(n)
            for s in range(0, n, batch_size):
                b = perm[s:s + batch_size]
                total += float(step(*[a[b] for a in arrays], yc[b], yl[b]))
                batches += 1
            report.seconds_per_epoch.append(time.perf_counter() - t0)
            report.loss.append(total / batches)
            if verbose:
                print(f"ranker epoch {ep + 1}/{epochs}: loss {report.loss[-1]:.4f}")
        self.fitted = True
        return report

    def score(self, features: RankerFeatures) -> np.ndarray:
        """(n,) float32 combined score, completion_weight * P(complete) + like_weight * P(like)."""
        return self._serve(*self._arrays(features)).numpy()

    def serving_graph(self) -> tuple[tf.types.experimental.ConcreteFunction, keras.Model]:
        """The combined score's concrete function and the network owning its variables: what a converter
        (TFLite, ``recommend.ranker_tflite``) needs, so there is one definition of the serving computation."""
        return self._serve.get_concrete_function(), self._net

    def predict_heads(self, features: RankerFeatures) -> np.ndarray:
        """(n, 2) float32: P(complete), P(like)."""
        return self._heads(*self._arrays(features)).numpy()

    def score_eager(self, features: RankerFeatures) -> np.ndarray:
        """The same computation run eagerly: a baseline for the benchmark, never for serving."""
        return self._combined_eager(*[tf.constant(a) for a in self._arrays(features)]).numpy()

    def region_index(self, regions: Iterable[str]) -> np.ndarray:
        """Embedding rows for viewer regions, as training assigned them (unknown -> the "other" row)."""
        if self.regions is None:
            raise ValueError("this ranker was saved without its region vocabulary, so serving cannot map "
                             "regions to the rows it was trained with; retrain it (train_models)")
        return region_indices(self.regions, regions, self.config.n_regions)

    def save(self, directory: str | Path) -> Path:
        meta: dict = {"config": asdict(self.config)}
        if self.regions is not None:
            meta["regions"] = list(self.regions)
        return save_model_dir(directory, FORMAT, meta, self._net.weights)

    @classmethod
    def load(cls, directory: str | Path) -> Ranker:
        """Older saves without ``regions`` still load (benchmarks, inspection); :meth:`region_index` refuses them."""
        meta = read_meta(directory, FORMAT, "ranker")
        cfg = meta["config"]
        cfg["hidden"] = tuple(cfg["hidden"])
        model = cls(RankerConfig(**cfg), regions=meta.get("regions"))
        assign_weights(directory, model._net.weights)
        model.fitted = True
        return model
