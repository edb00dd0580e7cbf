"""Luma, picture geometry and identity of sampled frames, shared by fingerprints, thumbnails and embeddings."""

from __future__ import annotations

import hashlib
import os

import numpy as np

UNIFORM_STD = 8.0  # grey-level std below which a frame carries no identity
BAR_MEAN, BAR_STD = 28.0, 6.0  # a row or column this dark and flat is a bar


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_gray(images: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) RGB -> (n, h, w) float32 luma (BT.601)."""
    return images[..., 0] * 0.299 + images[..., 1] * 0.587 + images[..., 2] * 0.114


def _content_span(mean: np.ndarray, std: np.ndarray) -> tuple[int, int]:
    """First and last index (exclusive) along one axis that is content in at least one frame."""
    content = ((mean > BAR_MEAN) | (std > BAR_STD)).any(axis=0)
    idx = np.flatnonzero(content)
    if idx.size == 0:
        return 0, mean.shape[1]
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    if hi - lo < 0.15 * mean.shape[1]:  # mostly dark footage, not bars: keep the whole frame
        return 0, mean.shape[1]
    return lo, hi


def picture_box(gray: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of real picture across all (n, h, w) frames: letterbox and pillarbox bars removed."""
    r0, r1 = _content_span(gray.mean(axis=2), gray.std(axis=2))
    c0, c1 = _content_span(gray.mean(axis=1), gray.std(axis=1))
    return slice(r0, r1), slice(c0, c1)


def centre_crop(image: np.ndarray, scale: float) -> np.ndarray:
    """The central ``scale`` of an image's height and width."""
    h, w = image.shape[:2]
    dh, dw = int(round(h * (1 - scale) / 2)), int(round(w * (1 - scale) / 2))
    return image[dh:h - dh, dw:w - dw]
