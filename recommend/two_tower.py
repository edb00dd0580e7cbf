"""Two-tower retrieval (Keras 3 on TensorFlow).

User tower: user id embedding + a position-weighted mean of the recent items' embeddings (+ hour of day,
region). Item tower: item id embedding (+ a projected content vector, + hashed creator/sound/hashtag tokens).
Both L2-normalised; logits are cosines over a temperature, plus an item bias: a learned per-item constant and,
with ``freshness``, a small MLP over the item's causal recent popularity and age (YouTube-DNN's "example
age" idea: at training time each example sees the item's counts before the example's own time bucket, so the
model learns how popularity drifts instead of memorising it; at serving the features are "as of" the end of
the training data, or as of an explicit time through :func:`recommend.data.item_freshness`).

Training is in-batch sampled softmax with logQ correction: every other positive in the batch is a negative,
and log(sampling probability of the item) is subtracted from its logit so that popular items, which show up
as negatives more often, are not over-penalised. Skips (weight <= 0) are explicit negatives through a binary
term on their own pair.

Serving goes through ``tf.function`` with fixed input signatures (eager calls are ~10x slower here).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recommend.data import (
    FRESHNESS_WINDOWS,
    PAD,
    Interactions,
    example_histories,
    freshness_table,
    n_freshness_features,
    time_bucket,
)
from recommend.model_files import assign_weights, read_meta, save_model_dir

FORMAT = "reelflow-two-tower/1"


@dataclass(frozen=True)
class TwoTowerConfig:
    embedding_dim: int = 64
    history_len: int = 20
    # Tuned on the validation split of MovieLens-100K's time split (NOTES.md; 1.0-3.0 tried): a high
    # temperature with an item bias lets the bias (recent popularity, through the recency weighting) carry
    # much of the logit; lower temperatures overfit there. Per-user splits prefer lower ones (0.3).
    temperature: float = 1.5
    learning_rate: float = 0.005
    logq_correction: bool = True
    use_user_id: bool = True
    user_id_dropout: float = 0.1  # trains the "new user" slot that cold users get at serving
    use_hour: bool = False
    n_regions: int = 0  # 0: no region feature
    hash_buckets: int = 4096  # for hashed item tokens (creator, sound, hashtags)
    skip_weight: float = 0.5
    # A learned per-item bias (log-popularity, in effect): cosines over a temperature can only spread
    # logits over 2/temperature, less than the popularity range of a real catalogue. Served as one extra
    # dimension: user [u / temperature, 1] . item [v, bias] = the training logit, so ANN (inner product)
    # still applies.
    item_bias: bool = True
    # Positives are weighted 2^(-age / half-life), age counted back from the newest event in the training
    # data: tastes and the catalogue drift, so recent behaviour is the best guess for tomorrow's. None: off.
    recency_half_life_s: float | None = 7 * 86400.0
    # Item freshness features (recommend.data.freshness_table) through a small MLP into the item bias; needs
    # item_bias. Time buckets of freshness_bucket_s; windows in buckets. Off by default: on the time split's
    # validation it lost 0.01-0.02 recall@50 against the recency-weighted static bias and doubled the epoch
    # time; it pays where users are served at different times (leave-last-N-out), see recommend.evaluate.
    freshness: bool = False
    freshness_bucket_s: float = 86400.0
    freshness_windows: tuple[int, ...] = FRESHNESS_WINDOWS
    freshness_hidden: int = 16
    # Served item vectors are "as of" the end of the training data until the next retrain, so each training
    # example sees its item features as of a random 0 .. horizon - 1 buckets before its own bucket: the MLP
    # learns what predicts the next `horizon` buckets, not only the next one (1-day counts are bursty).
    freshness_horizon: int = 1
    # Learned weights per history position (softmax over the non-pad slots) instead of a plain mean: users
    # rate in bursts, so the latest items may say more than older ones. Starts as the plain mean.
    history_position_weights: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        # JSON (save/load) turns the tuple into a list; keep the dataclass hashable and comparable.
        object.__setattr__(self, "freshness_windows", tuple(int(w) for w in self.freshness_windows))
        if self.freshness and not self.item_bias:
            raise ValueError("freshness feeds the item bias: it needs item_bias=True")


# Config fields added after models were first saved, with the values that reproduce those older models.
_LEGACY_CONFIG = {"freshness": False, "history_position_weights": False}
# Config fields since removed, with the only value this version can load (models saved with it carry the key).
_REMOVED_CONFIG = {"item_bias_static": True}


def _config_from_saved(saved: dict) -> TwoTowerConfig:
    saved = dict(saved)
    for key, supported in _REMOVED_CONFIG.items():
        if key in saved and saved.pop(key) != supported:
            raise ValueError(f"this model was saved with {key}={not supported}, which this version no longer "
                             f"supports (only {key}={supported}); retrain it")
    return TwoTowerConfig(**{**_LEGACY_CONFIG, **saved})


@dataclass
class ItemSideFeatures:
    """Per-item side features, row i = item index i. ``tokens`` holds hashed bucket ids (see
    :func:`hash_tokens`), PAD-filled."""

    content: np.ndarray | None = None  # (n_items, d) float32, e.g. the ingest content embedding
    tokens: np.ndarray | None = None  # (n_items, t) int32 in [0, hash_buckets) or PAD


def hash_tokens(token_lists: Sequence[Sequence[str]], buckets: int, max_tokens: int) -> np.ndarray:
    """Stable (crc32) hashing of strings such as "creator:abc", "sound:x", "tag:cats" into buckets."""
    out = np.full((len(token_lists), max_tokens), PAD, np.int32)
    for r, toks in enumerate(token_lists):
        for c, t in enumerate(list(toks)[:max_tokens]):
            out[r, c] = zlib.crc32(str(t).encode()) % buckets
    return out


@dataclass
class TrainReport:
    epochs: int
    examples: int
    seconds_per_epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)

    @property
    def mean_seconds_per_epoch(self) -> float:
        return float(np.mean(self.seconds_per_epoch)) if self.seconds_per_epoch else 0.0


class _Towers(keras.Model):
    def __init__(self, cfg: TwoTowerConfig, n_users: int, n_items: int, content_dim: int, n_tokens: int):
        super().__init__()
        d = cfg.embedding_dim
        self.cfg = cfg
        init = keras.initializers.RandomNormal(stddev=0.05, seed=cfg.seed)
        # Slot n_users is the cold-start user; item slot 0 is the history pad (items are shifted by one).
        self.user_emb = keras.layers.Embedding(n_users + 1, d, embeddings_initializer=init)
        self.item_emb = keras.layers.Embedding(n_items + 1, d, embeddings_initializer=init)
        self.user_proj = keras.layers.Dense(d, use_bias=False,
                                            kernel_initializer=keras.initializers.GlorotUniform(seed=cfg.seed))
        self.hour_emb = keras.layers.Embedding(24, d, embeddings_initializer=init) if cfg.use_hour else None
        self.region_emb = (keras.layers.Embedding(cfg.n_regions, d, embeddings_initializer=init)
                           if cfg.n_regions else None)
        self.content_dim, self.n_tokens = content_dim, n_tokens
        self.has_bias = cfg.item_bias
        self.bias = (keras.layers.Embedding(n_items + 1, 1, embeddings_initializer="zeros")
                     if cfg.item_bias else None)
        self.pos_logits = (self.add_weight(shape=(cfg.history_len,), initializer="zeros", name="pos_logits")
                           if cfg.history_position_weights else None)
        self.n_fresh = n_freshness_features(cfg.freshness_windows) if cfg.freshness else 0
        if self.n_fresh:
            self.fresh_hidden = keras.layers.Dense(
                cfg.freshness_hidden, activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=cfg.seed + 2))
            # Zero output layer: training starts from the plain per-item bias.
            self.fresh_out = keras.layers.Dense(1, kernel_initializer="zeros")
            # Features as of the end of the training data (row i + 1 = item i; row 0 = pad): the default
            # for item_vectors, saved with the weights.
            self.fresh_end = self.add_weight(shape=(n_items + 1, self.n_fresh), initializer="zeros",
                                             trainable=False, name="fresh_end")
        if content_dim:
            self.content_table = self.add_weight(shape=(n_items + 1, content_dim), initializer="zeros",
                                                 trainable=False, name="content_table")
            self.content_proj = keras.layers.Dense(
                d, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(seed=cfg.seed + 1))
        if n_tokens:
            self.token_table = self.add_weight(shape=(n_items + 1, n_tokens), initializer="zeros",
                                               trainable=False, dtype="int32", name="token_table")
            self.token_emb = keras.layers.Embedding(cfg.hash_buckets + 1, d, embeddings_initializer=init)

    def user_tower(self, uidx, hist, hour, region):
        # hist: shifted item indices, 0 = pad. (Position-weighted) mean over the non-pad slots.
        e = self.item_emb(hist)
        m = tf.cast(hist > 0, e.dtype)[..., None]
        if self.pos_logits is not None:
            # Subtract the max so exp() cannot overflow; an all-pad row keeps weight 0 and a zero bag.
            m = m * tf.exp(self.pos_logits - tf.reduce_max(self.pos_logits))[None, :, None]
        bag = tf.reduce_sum(e * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1e-6)
        parts = [bag]
        if self.cfg.use_user_id:
            parts.append(self.user_emb(uidx))
        if self.hour_emb is not None:
            parts.append(self.hour_emb(hour))
        if self.region_emb is not None:
            parts.append(self.region_emb(region))
        u = self.user_proj(tf.concat(parts, axis=-1))
        return tf.math.l2_normalize(u, axis=-1)

    def item_tower(self, iidx_shifted):
        v = self.item_emb(iidx_shifted)
        if self.content_dim:
            v = v + self.content_proj(tf.gather(self.content_table, iidx_shifted))
        if self.n_tokens:
            tok = tf.gather(self.token_table, iidx_shifted)  # bucket + 1, 0 = pad
            e = self.token_emb(tok)
            m = tf.cast(tok > 0, e.dtype)[..., None]
            v = v + tf.reduce_sum(e * m, axis=1) / tf.maximum(tf.reduce_sum(m, axis=1), 1.0)
        return tf.math.l2_normalize(v, axis=-1)

    def item_bias(self, iidx_shifted):
        return self.bias(iidx_shifted)[:, 0] if self.bias is not None else None

    def freshness_bias(self, feats):
        """(..., k) freshness features -> (...) bias term."""
        return self.fresh_out(self.fresh_hidden(feats))[..., 0]


def in_batch_logits(u: tf.Tensor, v: tf.Tensor, item_idx: tf.Tensor, log_q: tf.Tensor | None,
                    temperature: float, bias: tf.Tensor | None = None) -> tf.Tensor:
    """(B, B) logits: row b scores every item in the batch for user b. logQ correction subtracts each
    column item's log sampling probability; duplicates of the row's positive elsewhere in the batch are
    masked (they are not negatives)."""
    logits = tf.matmul(u, v, transpose_b=True) / temperature
    if bias is not None:  # (B,) per column, or (B, B) when it depends on the row too (freshness at its time)
        logits = logits + (bias if bias.shape.rank == 2 else bias[None, :])
    if log_q is not None:
        logits = logits - log_q[None, :]
    same = tf.equal(item_idx[:, None], item_idx[None, :])
    off_diag = tf.logical_not(tf.eye(tf.shape(item_idx)[0], dtype=tf.bool))
    return tf.where(tf.logical_and(same, off_diag), tf.constant(-1e9, logits.dtype), logits)


class TwoTower:
    def __init__(self, config: TwoTowerConfig | None = None):
        self.config = config or TwoTowerConfig()
        self._net: _Towers | None = None
        self.user_ids: tuple[str, ...] = ()
        self.item_ids: tuple[str, ...] = ()
        self._serve_users = None
        self._serve_items = None

    # -- building ---------------------------------------------------------------------------------------
    def _build(self, user_ids: tuple[str, ...], item_ids: tuple[str, ...], side: ItemSideFeatures | None,
               content_dim: int = 0, n_tokens: int = 0) -> None:
        if not user_ids or not item_ids:
            raise ValueError("cannot build a two-tower model over an empty vocabulary")
        self.user_ids, self.item_ids = tuple(user_ids), tuple(item_ids)
        n_items = len(item_ids)
        if side is not None:
            if side.content is not None:
                if side.content.ndim != 2 or side.content.shape[0] != n_items:
                    raise ValueError(f"side.content must be (n_items={n_items}, d), got {side.content.shape}")
                content_dim = side.content.shape[1]
            if side.tokens is not None:
                if side.tokens.ndim != 2 or side.tokens.shape[0] != n_items:
                    raise ValueError(f"side.tokens must be (n_items={n_items}, t), got {side.tokens.shape}")
                n_tokens = side.tokens.shape[1]
        tf.random.set_seed(self.config.seed)
        net = _Towers(self.config, len(user_ids), n_items, content_dim, n_tokens)
        h = self.config.history_len
        net.user_tower(tf.zeros([1], tf.int32), tf.zeros([1, h], tf.int32), tf.zeros([1], tf.int32),
                       tf.zeros([1], tf.int32))
        net.item_tower(tf.zeros([1], tf.int32))
        net.item_bias(tf.zeros([1], tf.int32))
        if net.n_fresh:
            net.freshness_bias(tf.zeros([1, net.n_fresh]))
        if side is not None and side.content is not None:
            net.content_table.assign(np.vstack([np.zeros((1, content_dim), np.float32),
                                                side.content.astype(np.float32)]))
        if side is not None and side.tokens is not None:
            tok = np.where(side.tokens >= 0, side.tokens + 1, 0).astype(np.int32)
            net.token_table.assign(np.vstack([np.zeros((1, n_tokens), np.int32), tok]))
        self._net = net
        self._make_serving()

    def _make_serving(self) -> None:
        net, h = self._net, self.config.history_len

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, h], tf.int32),
                                      tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32)])
        def serve_users(uidx, hist, hour, region):
            u = net.user_tower(uidx, hist, hour, region)
            if not net.has_bias:
                return u
            return tf.concat([u / self.config.temperature, tf.ones_like(u[:, :1])], axis=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, None], tf.float32)])
        def serve_items(iidx, fresh):
            v = net.item_tower(iidx)
            if not net.has_bias:
                return v
            b = net.item_bias(iidx)
            if net.n_fresh:
                b = b + net.freshness_bias(fresh)
            return tf.concat([v, b[:, None]], axis=-1)

        self._serve_users, self._serve_items = serve_users, serve_items

    @property
    def vector_dim(self) -> int:
        """Width of user/item vectors: embedding_dim, plus one with ``item_bias``."""
        return self.config.embedding_dim + int(self.config.item_bias)

    @property
    def built(self) -> bool:
        return self._net is not None

    def _require(self) -> _Towers:
        if self._net is None:
            raise RuntimeError("TwoTower is not trained or loaded yet")
        return self._net

    # -- training -------------------------------------------------------------------------------------
    def fit(self, train: Interactions, *, epochs: int = 10, batch_size: int = 1024,
            side: ItemSideFeatures | None = None, hour: np.ndarray | None = None,
            region: np.ndarray | None = None, verbose: bool = False,
            on_epoch_end: Callable[[int, TrainReport], None] | None = None) -> TrainReport:
        """Train on ``train`` (positives weight > 0, skips weight <= 0). ``hour`` defaults to the UTC hour of
        each timestamp; ``region`` (region index per row) is required when ``config.n_regions`` > 0."""
        cfg = self.config
        if len(train) == 0 or not (train.weight > 0).any():
            raise ValueError("cannot train on interactions without positives")
        if epochs < 1 or batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if self._net is None:
            self._build(train.user_ids, train.item_ids, side)
        elif (train.user_ids, train.item_ids) != (self.user_ids, self.item_ids):
            raise ValueError("train vocabularies differ from the model's; build a new TwoTower")
        net = self._require()
        n = len(train)
        hist = example_histories(train, cfg.history_len) + 1  # shift: PAD (-1) -> 0
        hours = (np.asarray(hour, np.int32) if hour is not None
                 else ((train.timestamp // 3600) % 24).astype(np.int32))
        if cfg.n_regions:
            if region is None:
                raise ValueError("config.n_regions > 0 needs a region index per row")
            regions = np.asarray(region, np.int32)
            if regions.min() < 0 or regions.max() >= cfg.n_regions:
                raise ValueError(f"region index out of range [0, {cfg.n_regions})")
        else:
            regions = np.zeros(n, np.int32)
        if len(hours) != n or len(regions) != n:
            raise ValueError("hour/region must have one value per interaction")
        weight = train.weight.astype(np.float32)
        if cfg.recency_half_life_s:
            age = train.timestamp.max() - train.timestamp
            weight = weight * np.exp2(-age / cfg.recency_half_life_s).astype(np.float32)
        counts = np.bincount(train.item_idx, minlength=train.n_items).astype(np.float64)
        log_q = np.log(np.maximum(counts, 1.0) / n).astype(np.float32)
        use_fresh = net.n_fresh > 0
        if use_fresh:
            table, d0 = freshness_table(train, bucket_s=cfg.freshness_bucket_s, windows=cfg.freshness_windows)
            # Item axis shifted like the embeddings (column 0 = pad). Every example's row is its own time
            # bucket, and each in-batch negative is scored with its features at the row's time, not its own.
            table = np.concatenate([np.zeros((table.shape[0], 1, net.n_fresh), np.float32), table], axis=1)
            net.fresh_end.assign(table[-1])
            fresh_table = tf.constant(table)
            ex_bucket = (time_bucket(train.timestamp, cfg.freshness_bucket_s) - d0).astype(np.int32)
            horizon = max(int(cfg.freshness_horizon), 1)
        else:
            fresh_table = tf.zeros([1, 1, 1])
            ex_bucket = np.zeros(n, np.int32)
            horizon = 1
        opt = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
        temperature, use_logq = cfg.temperature, cfg.logq_correction
        drop, cold, skip_w = cfg.user_id_dropout, train.n_users, cfg.skip_weight
        variables = net.trainable_variables
        spec = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, cfg.history_len], tf.int32),
                tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int32)]

        @tf.function(input_signature=spec)
        def step(uidx, h, hr, rg, iidx, w, lq, bucket):
            if drop > 0:
                uidx = tf.where(tf.random.uniform(tf.shape(uidx)) < drop, cold, uidx)
            with tf.GradientTape() as tape:
                u = net.user_tower(uidx, h, hr, rg)
                v = net.item_tower(iidx + 1)
                b = net.item_bias(iidx + 1)
                if use_fresh:
                    # The MLP runs once per distinct (bucket, item) cell of the batch's buckets, then the
                    # (B, B) row-time bias is a gather: far cheaper than the MLP over B x B feature rows.
                    ub, rows = tf.unique(bucket)
                    cells = tf.gather(tf.gather(fresh_table, ub), iidx + 1, axis=1)  # (U, B, k)
                    g = net.freshness_bias(cells)  # (U, B)
                    b = b[None, :] + tf.gather(g, rows)  # (B, B): row b's time, column item
                logits = in_batch_logits(u, v, iidx, lq if use_logq else None, temperature, b)
                pos = tf.maximum(w, 0.0)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.range(tf.shape(iidx)[0]), logits=logits)
                loss = tf.reduce_sum(pos * ce) / tf.maximum(tf.reduce_sum(pos), 1e-6)
                neg = tf.cast(w <= 0, tf.float32)
                raw = tf.reduce_sum(u * v, axis=-1) / temperature
                if b is not None:
                    raw += tf.linalg.diag_part(b) if use_fresh else b
                loss += skip_w * tf.reduce_sum(neg * tf.nn.softplus(raw)) / tf.maximum(tf.reduce_sum(neg), 1.0)
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return loss

        rng = np.random.default_rng(cfg.seed)
        report = TrainReport(epochs=epochs, examples=n)
        for ep in range(epochs):
            t0 = time.perf_counter()
            perm = rng.permutation(n)
            # Redrawn every epoch; row 0 (before any data) is the floor.
            lagged = (np.maximum(ex_bucket - rng.integers(0, horizon, n), 0).astype(np.int32) if horizon > 1
                      else ex_bucket)
            total, batches = 0.0, 0
            for s in range(0, n, batch_size):
                b = perm[s:s + batch_size]
                if len(b) < 2:
                    continue
                ii = train.item_idx[b]
                total += float(step(train.user_idx[b], hist[b], hours[b], regions[b], ii,
                                    weight[b], log_q[ii], lagged[b]))
                batches += 1
            report.seconds_per_epoch.append(time.perf_counter() - t0)
            report.loss.append(total / max(batches, 1))
            if verbose:
                print(f"epoch {ep + 1}/{epochs}: loss {report.loss[-1]:.4f} ({report.seconds_per_epoch[-1]:.2f} s)")
            if on_epoch_end is not None:
                on_epoch_end(ep, report)
        return report

    # -- serving ----------------------------------------------------------------------------------------
    def user_vectors(self, user_idx: np.ndarray, histories: np.ndarray, *, hour: np.ndarray | None = None,
                     region: np.ndarray | None = None, batch_size: int = 8192) -> np.ndarray:
        """(n, d) float32. ``user_idx`` are vocabulary indices, -1 for a user unknown to the model (cold:
        served from the history bag and the new-user slot). ``histories`` are item indices, PAD = -1."""
        self._require()
        uidx = np.asarray(user_idx, np.int64)
        hist = np.asarray(histories, np.int64)
        n, h = len(uidx), self.config.history_len
        if uidx.ndim != 1:
            raise ValueError("user_idx must be 1-d")
        if hist.shape != (n, h):
            raise ValueError(f"histories must have shape ({n}, {h}), got {hist.shape}")
        if n and (uidx.min() < -1 or uidx.max() >= len(self.user_ids)):
            raise ValueError(f"user index out of range [-1, {len(self.user_ids)})")
        if hist.size and (hist.min() < -1 or hist.max() >= len(self.item_ids)):
            raise ValueError(f"history item index out of range [-1, {len(self.item_ids)})")
        uidx = np.where(uidx < 0, len(self.user_ids), uidx).astype(np.int32)
        hours = np.zeros(n, np.int32) if hour is None else np.asarray(hour, np.int32)
        regions = np.zeros(n, np.int32) if region is None else np.asarray(region, np.int32)
        if len(hours) != n or len(regions) != n:
            raise ValueError("hour/region must have one value per user")
        if self.config.n_regions and n and (regions.min() < 0 or regions.max() >= self.config.n_regions):
            raise ValueError(f"region index out of range [0, {self.config.n_regions})")
        hist32 = (hist + 1).astype(np.int32)
        out = [self._serve_users(uidx[s:s + batch_size], hist32[s:s + batch_size], hours[s:s + batch_size],
                                 regions[s:s + batch_size]).numpy() for s in range(0, n, batch_size)]
        return (np.concatenate(out) if out else np.zeros((0, self.vector_dim))).astype(np.float32)

    def item_vectors(self, item_idx: np.ndarray | None = None, *, freshness: np.ndarray | None = None,
                     batch_size: int = 65536) -> np.ndarray:
        """(n, d) float32 for the given item indices, or every item in vocabulary order.

        With ``config.freshness`` the bias dimension depends on time: by default it is as of the end of the
        training data (stored with the model); ``freshness`` (n_items, k), all items in vocabulary order, from
        :func:`recommend.data.item_freshness` over a log at a later ``as_of``, gives it as of that time.
        Without freshness the argument is ignored."""
        net = self._require()
        idx = np.arange(len(self.item_ids)) if item_idx is None else np.asarray(item_idx, np.int64)
        if idx.ndim != 1:
            raise ValueError("item_idx must be 1-d")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.item_ids)):
            raise ValueError(f"item index out of range [0, {len(self.item_ids)})")
        shifted = (idx + 1).astype(np.int32)
        k = max(net.n_fresh, 1)
        if not net.n_fresh:
            fresh = np.zeros((len(idx), k), np.float32)
        elif freshness is None:
            fresh = net.fresh_end.numpy()[shifted]
        else:
            freshness = np.asarray(freshness, np.float32)
            if freshness.shape != (len(self.item_ids), k):
                raise ValueError(f"freshness must have shape ({len(self.item_ids)}, {k}), got {freshness.shape}")
            fresh = freshness[idx]
        out = [self._serve_items(shifted[s:s + batch_size], fresh[s:s + batch_size]).numpy()
               for s in range(0, len(idx), batch_size)]
        return (np.concatenate(out) if out else np.zeros((0, self.vector_dim))).astype(np.float32)

    def user_index(self, ids: Sequence[str], *, strict: bool = True) -> np.ndarray:
        """Vocabulary indices; unknown ids raise KeyError, or map to -1 (cold) with ``strict=False``."""
        table = {u: i for i, u in enumerate(self.user_ids)}
        out = np.empty(len(ids), np.int32)
        for k, x in enumerate(ids):
            i = table.get(str(x), -1)
            if i < 0 and strict:
                raise KeyError(f"unknown user id {x!r}")
            out[k] = i
        return out

    def item_index(self, ids: Sequence[str]) -> np.ndarray:
        table = {v: i for i, v in enumerate(self.item_ids)}
        missing = [x for x in ids if str(x) not in table]
        if missing:
            raise KeyError(f"unknown item id(s) {missing[:5]!r} (not in the model's vocabulary)")
        return np.array([table[str(x)] for x in ids], np.int32)

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """config.json (config, vocabularies, shapes) + weights.npz; a few MB for ML-100K."""
        net = self._require()
        meta = {"config": asdict(self.config), "user_ids": list(self.user_ids), "item_ids": list(self.item_ids),
                "content_dim": net.content_dim, "n_tokens": net.n_tokens}
        return save_model_dir(directory, FORMAT, meta, net.weights)

    @classmethod
    def load(cls, directory: str | Path) -> TwoTower:
        meta = read_meta(directory, FORMAT, "two-tower model")
        model = cls(_config_from_saved(meta["config"]))
        model._build(tuple(meta["user_ids"]), tuple(meta["item_ids"]), None, meta["content_dim"], meta["n_tokens"])
        assign_weights(directory, model._net.weights)
        return model
