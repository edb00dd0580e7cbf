"""The ranker's combined score through TFLite, for serving small batches.

A feed page scores ~30 candidates. At that size the ranker's ``tf.function`` costs ~0.75 ms, nearly all of
it TensorFlow's per-call dispatch; the same graph converted to TFLite runs in ~0.04 ms (measured here, one
thread, max |diff| ~1e-7). TFLite interpreters have fixed input shapes (a resize re-plans the whole graph), so
there is one per bucket size and a batch is padded up to the next bucket (chunked above the largest).

Built from the ranker's own serving ``tf.function`` (``Ranker.serving_graph``), so there is one definition
of the network. :meth:`LiteScorer.build` checks the
conversion against the ``tf.function`` and returns None when it does not match, and the caller keeps the
``tf.function``.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recommend.ranker import Ranker, RankerFeatures

log = logging.getLogger("recommend.ranker_tflite")
BUCKETS = (32, 64, 128, 256, 512)
INPUTS = ("user", "item", "hour", "region", "dense_x")  # the serving signature's argument names
# A wrong conversion (input order, an op's semantics) moves scores by 1e-2 or more; summation order moves
# them by 1e-7 on inputs like the served ones, but once reached 1.25e-3 on the far larger random normal
# rows this check used to draw (the fallback then served a ranker 5x slower).
PARITY_ATOL = 1e-3


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class LiteScorer:
    def __init__(self, blob: bytes, ranker: Ranker) -> None:
        import tensorflow as tf

        cfg = ranker.config
        width = {"user": cfg.user_dim, "item": cfg.item_dim, "dense_x": cfg.n_dense}
        self._interpreters = {}
        for size in BUCKETS:
            with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice (LiteRT); TF 2.21 has it
                warnings.simplefilter("ignore")
                it = tf.lite.Interpreter(model_content=blob, num_threads=1)
            index = {d["name"]: d["index"] for d in it.get_input_details()}
            if set(index) != set(INPUTS):
                raise ValueError(f"TFLite inputs {sorted(index)} are not the ranker's {INPUTS}")
            for name in INPUTS:
                it.resize_tensor_input(index[name], [size, width[name]] if name in width else [size])
            it.allocate_tensors()
            self._interpreters[size] = (it, [index[name] for name in INPUTS], it.get_output_details()[0]["index"])
        self._lock = threading.Lock()  # an interpreter is not thread-safe; pages are scored one at a time anyway

    @classmethod
    def build(cls, ranker: Ranker) -> LiteScorer | None:
        """Convert and check against the ranker's ``tf.function``; None (with a warning) when either fails."""
        from recommend.ranker import RankerFeatures

        try:
            import tensorflow as tf

            fn, net = ranker.serving_graph()
            blob = tf.lite.TFLiteConverter.from_concrete_functions([fn], net).convert()
            scorer = cls(blob, ranker)
            cfg = ranker.config
            rng = np.random.default_rng(0)
            for n in (1, 37, BUCKETS[-1] + 3):  # padded, exact-ish and chunked batches
                # Unit rows, the scale of the two-tower vectors the feed passes.
                f = RankerFeatures(_unit_rows(rng.normal(size=(n, cfg.user_dim))),
                                   _unit_rows(rng.normal(size=(n, cfg.item_dim))),
                                   rng.integers(0, 24, n).astype(np.int32),
                                   rng.integers(0, max(cfg.n_regions, 1), n).astype(np.int32),
                                   rng.normal(size=(n, cfg.n_dense)).astype(np.float32))
                diff = float(np.abs(scorer.score(f) - ranker.score(f)).max())
                if not diff <= PARITY_ATOL:
                    raise ValueError(f"TFLite differs from the tf.function by {diff:.2e} at n={n}")
            return scorer
        except Exception as exc:  # any conversion problem: serve through the tf.function instead
            log.warning("ranker not served through TFLite (%s); using its tf.function", exc)
            return None

    def score(self, f: RankerFeatures) -> np.ndarray:
        """(n,) float32, the same as ``Ranker.score``. Inputs are trusted (the caller built them): no checks."""
        n = len(f.user)
        if n > BUCKETS[-1]:
            step = BUCKETS[-1]
            return np.concatenate([self.score(f.take(np.arange(s, min(s + step, n)))) for s in range(0, n, step)])
        size = next(b for b in BUCKETS if b >= n)
        arrays = [np.asarray(f.user, np.float32), np.asarray(f.item, np.float32), np.asarray(f.hour, np.int32),
                  np.asarray(f.region, np.int32), np.asarray(f.dense, np.float32)]
        it, inputs, output = self._interpreters[size]
        with self._lock:
            for idx, a in zip(inputs, arrays, strict=True):
                padded = np.zeros((size, *a.shape[1:]), a.dtype)  # zero rows are valid inputs; their scores dropped
                padded[:n] = a
                it.set_tensor(idx, padded)
            it.invoke()
            return it.get_tensor(output)[:n].copy()
