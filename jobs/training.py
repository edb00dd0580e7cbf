"""Glue between the event log, the model code and the registry: what ``train_models`` runs, and the
two-tower candidate source that ``refresh_candidates`` builds from the registry's current version.

The models themselves live in ``recommend.two_tower`` (and the ranker beside it); they are imported
lazily, so the hand-written sources and the DAGs work where TensorFlow is not wanted (or not built yet).
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import InteractionEvent, User, Video
from recommend.sources import VectorSource

# How much each logged event says about liking a video (<= 0: an explicit negative for the model).
EVENT_WEIGHTS = {"complete": 1.0, "like": 2.0, "share": 2.0, "comment": 1.0, "skip": -1.0}
TWO_TOWER = "two_tower"
RANKER = "ranker"


def two_tower_available() -> bool:
    """Whether the two-tower module is importable here (TensorFlow and ``recommend.two_tower`` present)."""
    return importlib.util.find_spec("recommend.two_tower") is not None


def interactions_from_log(session: Session, start: datetime, end: datetime):
    """Weighted (user, video, time) rows of the log in [start, end), as ``recommend.data.Interactions``."""
    from recommend.data import Interactions

    e = InteractionEvent
    rows = session.execute(select(e.user_id, e.video_id, e.occurred_at, e.kind).where(
        e.occurred_at >= start, e.occurred_at < end, e.kind.in_(list(EVENT_WEIGHTS)), e.video_id.is_not(None))
        .order_by(e.occurred_at, e.id)).all()
    if not rows:
        return None
    return Interactions.from_ids([r.user_id for r in rows], [r.video_id for r in rows],
                                 [r.occurred_at.timestamp() for r in rows], [EVENT_WEIGHTS[r.kind] for r in rows])


def train_two_tower(interactions, out_dir: Path, *, epochs: int, seed: int = 0) -> dict:
    """Fit a two-tower model and save it to ``out_dir``; a small report for the DAG's log and the registry."""
    from recommend.two_tower import TwoTower, TwoTowerConfig

    model = TwoTower(TwoTowerConfig(seed=seed)) if "seed" in TwoTowerConfig.__dataclass_fields__ else TwoTower()
    report = model.fit(interactions, epochs=epochs)
    model.save(out_dir)
    return {"rows": len(interactions), "users": interactions.n_users, "items": interactions.n_items,
            "epochs": epochs, "seconds_per_epoch": round(float(report.mean_seconds_per_epoch), 3)}


def two_tower_source(model_dir: Path, users: list[str],
                     history: dict[str, list[tuple[str, str, float]]]) -> VectorSource:
    """Retrieval by the saved two-tower model: user vectors from each user's recent positives, searched in
    ``recommend.ann.AnnIndex`` over every item vector (exact below 50 k items, IVF above)."""
    from recommend.data import PAD
    from recommend.two_tower import TwoTower

    model = TwoTower.load(model_dir)
    h = model.config.history_len
    items = {v: i for i, v in enumerate(model.item_ids)}
    hist = np.full((len(users), h), PAD, np.int64)
    for n, u in enumerate(users):
        positives = [items[v] for v, kind, _ in history.get(u, ()) if EVENT_WEIGHTS.get(kind, 0) > 0 and v in items]
        last = positives[-h:]
        if last:
            hist[n, h - len(last):] = last
    uvec = model.user_vectors(model.user_index(users, strict=False), hist)
    ivec = model.item_vectors()
    search = None
    if importlib.util.find_spec("faiss") is not None:
        from recommend.ann import AnnIndex

        # Exact (flat) below 50 k items, IVF above: the index picks; positions as ids, so scores map back.
        index = AnnIndex().build(np.arange(len(ivec)), ivec)

        def search(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            idx, scores = index.search(q, k)
            return scores, np.where(np.isfinite(scores), idx, -1)
    return VectorSource(TWO_TOWER, {u: n for n, u in enumerate(users)}, uvec, list(model.item_ids), ivec,
                        search=search)


def ranker_examples(session: Session, start: datetime, end: datetime, two_tower_dir: Path):
    """Training examples for the multi-task ranker from the log: one per view start in [start, end) of a
    video the two-tower model knows, labelled by whether the same user completed / liked it in the window.

    Features follow ``recommend.ranker``: the two-tower user vector (history strictly before the
    impression, so an example never sees its own label) and item vector, hour (UTC), region (row in the
    region vocabulary, unknown -> "other"), and ``recommend.blended_ranking.dense_features`` (the function
    serving uses too). Returns (features, completion, like, region vocabulary) or None.
    """
    from recommend.blended_ranking import dense_features
    from recommend.data import PAD, Interactions, example_histories
    from recommend.ranker import RankerConfig, RankerFeatures, region_indices, region_vocabulary
    from recommend.two_tower import TwoTower

    e = InteractionEvent
    rows = session.execute(
        select(e.user_id, e.video_id, e.occurred_at, e.kind, User.region, Video.ready_at, Video.view_count,
               Video.like_count)
        .join(User, User.id == e.user_id).join(Video, Video.id == e.video_id)
        .where(e.occurred_at >= start, e.occurred_at < end, e.kind.in_(["view_start", "complete", "like"]))
        .order_by(e.occurred_at, e.id)).all()
    model = TwoTower.load(two_tower_dir)
    items = {v: i for i, v in enumerate(model.item_ids)}
    if not any(r.kind == "view_start" and r.video_id in items for r in rows):
        return None
    log_rows = Interactions.from_ids([r.user_id for r in rows], [r.video_id for r in rows],
                                     [r.occurred_at.timestamp() for r in rows],
                                     [0.0 if r.kind == "view_start" else 1.0 for r in rows])
    hist = example_histories(log_rows, model.config.history_len)
    to_model = np.array([items.get(v, PAD) for v in log_rows.item_ids] + [PAD], np.int64)
    hist = to_model[np.where(hist == PAD, len(log_rows.item_ids), hist)]  # PAD and unknown items stay PAD
    done = {(r.user_id, r.video_id) for r in rows if r.kind == "complete"}
    liked = {(r.user_id, r.video_id) for r in rows if r.kind == "like"}
    imp = [n for n, r in enumerate(rows) if r.kind == "view_start" and r.video_id in items]
    n_regions = RankerConfig().n_regions
    imp_regions = [rows[n].region or "global" for n in imp]
    regions = region_vocabulary(imp_regions, n_regions)
    user = model.user_vectors(model.user_index([rows[n].user_id for n in imp], strict=False), hist[imp])
    item = model.item_vectors(np.array([items[rows[n].video_id] for n in imp]))
    age_h = np.array([max((rows[n].occurred_at - (rows[n].ready_at or rows[n].occurred_at)).total_seconds(), 0)
                      / 3600 for n in imp])
    dense = dense_features(user, item, age_h, np.array([rows[n].view_count or 0 for n in imp], np.float64),
                           np.array([rows[n].like_count or 0 for n in imp], np.float64))
    # UTC hours: the log's timestamps are aware, and serving takes the hour of time.time() in UTC too.
    hours = np.array([rows[n].occurred_at.astimezone(UTC).hour for n in imp])
    feats = RankerFeatures(user, item, hours, region_indices(regions, imp_regions, n_regions), dense)
    completion = np.array([(rows[n].user_id, rows[n].video_id) in done for n in imp], np.float32)
    like = np.array([(rows[n].user_id, rows[n].video_id) in liked for n in imp], np.float32)
    return feats, completion, like, regions


def train_ranker(examples, out_dir: Path, *, epochs: int) -> dict:
    """Fit and save the ranker on ``ranker_examples``' output; the region vocabulary is saved with it."""
    from recommend.ranker import Ranker, RankerConfig

    feats, completion, like, regions = examples
    ranker = Ranker(RankerConfig(user_dim=feats.user.shape[1], item_dim=feats.item.shape[1]), regions=regions)
    report = ranker.fit(feats, completion, like, epochs=epochs)
    ranker.save(out_dir)
    return {"examples": len(feats), "completion_rate": round(float(completion.mean()), 4),
            "like_rate": round(float(like.mean()), 4), "epochs": epochs,
            "seconds_per_epoch": round(float(report.mean_seconds_per_epoch), 3)}
