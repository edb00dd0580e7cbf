"""Repository functions for content embeddings: store one, read one, load a model's vectors as a matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import StoredEmbedding, Video, VideoState, utcnow

_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class EmbeddingMatrix:
    video_ids: list[str]
    model: str
    vectors: np.ndarray  # (n, dimension) float32, row i belongs to video_ids[i]


def save_embedding(session: Session, video_id: str, model: str, vector: np.ndarray) -> None:
    """Insert or replace the video's vector for ``model`` (a re-run recomputes it)."""
    vector = np.asarray(vector)
    if vector.ndim != 1 or not vector.size or not np.isfinite(vector).all():
        raise ValueError(f"embedding for {video_id} must be a finite 1-d vector, got shape {vector.shape}")
    session.merge(StoredEmbedding(video_id=video_id, model=model, dimension=int(vector.size),
                                  vector=vector.astype(_DTYPE).tobytes(), created_at=utcnow()))


def get_embedding(session: Session, video_id: str, model: str) -> np.ndarray | None:
    row = session.get(StoredEmbedding, (video_id, model))
    return None if row is None else np.frombuffer(row.vector, _DTYPE).copy()


def ready_embeddings(session: Session, model: str) -> EmbeddingMatrix:
    """Vectors of every ready video for ``model``, oldest first: what similarity search and training read."""
    stmt = (select(StoredEmbedding.video_id, StoredEmbedding.dimension, StoredEmbedding.vector)
            .join(Video, Video.id == StoredEmbedding.video_id)
            .where(Video.state == VideoState.READY, StoredEmbedding.model == model)
            .order_by(Video.ready_at, Video.id))
    rows = session.execute(stmt).all()
    dims = {r.dimension for r in rows}
    if len(dims) > 1:
        raise ValueError(f"embeddings of model {model!r} have mixed dimensions {sorted(dims)}")
    dimension = dims.pop() if dims else 0
    vectors = np.frombuffer(b"".join(r.vector for r in rows), _DTYPE).reshape(len(rows), dimension)
    return EmbeddingMatrix([r.video_id for r in rows], model, vectors.copy())
