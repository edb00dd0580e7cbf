"""A trained Keras model on disk: ``config.json`` (a format tag plus metadata) and ``weights.npz`` in order.

Shared by the two-tower and the ranker, so loading checks the same things for both: the format, the
number of weight arrays and each one's shape. Small, plain files that the registry copies as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def save_model_dir(directory: str | Path, fmt: str, meta: dict, weights: Sequence) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps({"format": fmt, **meta}))
    np.savez(d / "weights.npz", *[np.asarray(w.numpy()) for w in weights])
    return d


def read_meta(directory: str | Path, fmt: str, what: str) -> dict:
    d = Path(directory)
    meta = json.loads((d / "config.json").read_text())
    if meta.get("format") != fmt:
        raise ValueError(f"{d} does not hold a reelflow {what}")
    return meta


def assign_weights(directory: str | Path, weights: Sequence) -> None:
    """Load ``weights.npz`` into the model's variables, refusing a count or shape that does not fit."""
    d = Path(directory)
    with np.load(d / "weights.npz") as z:
        arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
    if len(arrays) != len(weights):
        raise ValueError(f"{d}: {len(arrays)} weight arrays, model expects {len(weights)}")
    for w, a in zip(weights, arrays, strict=True):
        if tuple(w.shape) != a.shape:
            raise ValueError(f"{d}: weight {w.name} has shape {a.shape}, expected {tuple(w.shape)}")
        w.assign(a)
