"""Serving the trained ranker on a feed page: features built as training built them, scores blended with the
light ranker. Pure (arrays and a loaded model in, scores out): no HTTP, no Redis, no registry.

The blend: ``final = light score + weight * percentile(model score)``. The model only knows videos its
two-tower version was trained on, while pools also hold videos published since (and trending top-ups), so
a pure model order would have to drop or guess those. The percentile puts unknown videos at the median
(0.5): they are neither buried nor promoted by the model, and the light score's freshness, retrieval and
near-real-time profile terms still decide about them. Percentiles also keep ``weight`` meaningful across
model versions whose raw scores (weighted probabilities) drift in scale. The default weight (1.5) lets the
model decide most of the order: the light score spans about 3.3, but its retrieval term is a percentile
too (at most 1.0) and the affinity terms are 0 for a viewer without recent activity.

Importing this module does not import TensorFlow: the bundle is loaded (in the API, by a background thread)
through :meth:`ModelBundle.load`, which does. Pages are scored through TFLite (``recommend.ranker_tflite``):
the ranker's ``tf.function`` costs ~0.75 ms for 30 candidates, TFLite ~0.04 ms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommend import light_ranker
from recommend.light_ranker import Candidate

if TYPE_CHECKING:
    from recommend.ranker import Ranker
    from recommend.ranker_tflite import LiteScorer

MODEL_WEIGHT = 1.5
LINEAGE = "lineage.json"  # in a ranker's saved files: the two-tower version its features come from
UNKNOWN_PERCENTILE = 0.5  # videos the two-tower model has no vector for: the median, see the module doc


class BadUserVector(ValueError):
    """A user vector the model cannot use (wrong dimension, NaN or inf)."""


def dense_features(user: np.ndarray, item: np.ndarray, age_h: np.ndarray, views: np.ndarray,
                   likes: np.ndarray) -> np.ndarray:
    """The ranker's dense inputs, shared by training (``jobs.training.ranker_examples``) and serving so
    the two cannot drift: [user . item, log1p(age in hours), log1p(views), log1p(likes)], (n, 4) float32."""
    return np.stack([np.einsum("ij,ij->i", user, item), np.log1p(np.maximum(age_h, 0.0)),
                     np.log1p(np.maximum(views, 0)), np.log1p(np.maximum(likes, 0))], axis=1).astype(np.float32)


@dataclass(frozen=True)
class ModelBundle:
    """What the feed serves with, switched as one reference: the ranker, the two-tower version its features
    come from, and that version's item vectors (computed once at load, so a page does no tower work)."""

    ranker: Ranker
    ranker_version: str
    two_tower_version: str
    item_rows: Mapping[str, int]  # video id -> row of item_vectors
    item_vectors: np.ndarray  # (n_items, d) float32
    lite: LiteScorer | None = None  # the same scores through TFLite (~20x cheaper per page); None: tf.function

    @property
    def user_dim(self) -> int:
        return self.ranker.config.user_dim

    @classmethod
    def load(cls, ranker_dir: Path, ranker_version: str, two_tower_dir: Path, two_tower_version: str) -> ModelBundle:
        """Load both models (imports TensorFlow) and check they fit together; refuses a ranker without its
        region vocabulary. Converts the ranker to TFLite (checked against its ``tf.function``, which stays
        the fallback) and scores once, so no page pays for tracing or conversion."""
        from recommend.ranker import Ranker
        from recommend.ranker_tflite import LiteScorer
        from recommend.two_tower import TwoTower

        ranker = Ranker.load(ranker_dir)
        ranker.region_index(["global"])  # raises for rankers saved without a region vocabulary
        tt = TwoTower.load(two_tower_dir)
        vectors = np.ascontiguousarray(tt.item_vectors(), np.float32)
        cfg = ranker.config
        if vectors.shape[1] != cfg.item_dim or tt.vector_dim != cfg.user_dim:
            raise ValueError(f"ranker {ranker_version} expects {cfg.user_dim}/{cfg.item_dim}-d user/item vectors, "
                             f"two-tower {two_tower_version} gives {tt.vector_dim}-d")
        if not np.isfinite(vectors).all():
            raise ValueError(f"two-tower {two_tower_version} has non-finite item vectors")
        bundle = cls(ranker, ranker_version, two_tower_version, {v: i for i, v in enumerate(tt.item_ids)}, vectors,
                     LiteScorer.build(ranker))
        if len(vectors):
            warm = Candidate(tt.item_ids[0], None, (), None, None, 1.0, 0.0)
            model_scores(bundle, [warm, warm], np.zeros(cfg.user_dim, np.float32), hour=0, region="global")
        return bundle


def write_lineage(ranker_dir: Path, two_tower_version: str) -> None:
    """Record in the ranker's own files which two-tower version its features come from. The registry
    pointer's meta says it too, but a version's files are immutable while a rollback
    (``ModelRegistry.switch``) may rewrite the pointer with other meta, so serving trusts the files first."""
    (Path(ranker_dir) / LINEAGE).write_text(json.dumps({"two_tower": two_tower_version}))


def read_lineage(ranker_dir: Path) -> str | None:
    path = Path(ranker_dir) / LINEAGE
    return json.loads(path.read_text()).get("two_tower") if path.exists() else None


def check_user_vector(vec: np.ndarray, dim: int) -> np.ndarray:
    v = np.asarray(vec, np.float32)
    if v.shape != (dim,):
        raise BadUserVector(f"user vector has shape {v.shape}, the model expects ({dim},)")
    if not np.isfinite(v).all():
        raise BadUserVector("user vector contains NaN or inf")
    return v


def model_scores(bundle: ModelBundle, cands: Sequence[Candidate], user_vec: np.ndarray, *, hour: int,
                 region: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, known): the ranker's score per candidate (0 where unknown) and whether the two-tower version
    knows the candidate. One ``tf.function`` call for all known candidates."""
    from recommend.ranker import RankerFeatures  # already imported by the bundle's load: a dict lookup

    n = len(cands)
    user = check_user_vector(user_vec, bundle.user_dim)
    rows = np.fromiter((bundle.item_rows.get(c.video_id, -1) for c in cands), np.int64, n)
    known = rows >= 0
    out = np.zeros(n, np.float32)
    k = int(known.sum())
    if k == 0:
        return out, known
    picked = [c for c, ok in zip(cands, known, strict=True) if ok]
    item = bundle.item_vectors[rows[known]]
    users = np.broadcast_to(user, item.shape)
    dense = dense_features(users, item, np.fromiter((c.age_h for c in picked), np.float64, k),
                           np.fromiter((c.views for c in picked), np.float64, k),
                           np.fromiter((c.likes for c in picked), np.float64, k))
    feats = RankerFeatures(users, item, np.full(k, hour % 24, np.int32),
                           np.repeat(bundle.ranker.region_index([region]), k), dense)
    scores = bundle.lite.score(feats) if bundle.lite is not None else bundle.ranker.score(feats)
    if not np.isfinite(scores).all():  # the TFLite path does not check its inputs: refuse what it made of them
        raise ValueError("the ranker returned non-finite scores")
    out[known] = scores
    return out, known


def blend(light: np.ndarray, model: np.ndarray, known: np.ndarray, weight: float = MODEL_WEIGHT) -> np.ndarray:
    """``light + weight * percentile``: the model's scores rank-normalised to [0, 1] over the known
    candidates (equal scores, equal values); unknown candidates (and a lone known one) at the median."""
    pct = np.full(len(light), UNKNOWN_PERCENTILE)
    if known.sum() > 1:
        pct[known] = light_ranker.percentile(np.asarray(model, np.float64)[known])
    return np.asarray(light, np.float64) + weight * pct


def score(cands: Sequence[Candidate], tag_weights: Mapping[str, float], creator_weights: Mapping[str, float], *,
          bundle: ModelBundle, user_vec: np.ndarray, hour: int, region: str, weight: float = MODEL_WEIGHT,
          light_weights: light_ranker.Weights | None = None) -> np.ndarray:
    """The page's scores with the model: the light ranker's plus the model's percentile (see module doc)."""
    if not cands:
        return np.zeros(0)
    light = light_ranker.score(cands, tag_weights, creator_weights, light_weights or light_ranker.Weights())
    model, known = model_scores(bundle, cands, user_vec, hour=hour, region=region)
    return blend(light, model, known, weight)
