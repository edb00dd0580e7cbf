"""Related videos ("up next" under a video): content similarity combined with co-engagement, over arrays.

Two signals, because each fails where the other works. The content embedding (EfficientNet features of the
frames, ``media.embedding``) finds lookalikes from the moment a video is published, with no audience yet, but
knows nothing of taste. Co-engagement (people who liked or finished this video also liked or finished that one)
captures taste across topics, but needs an audience. Co-engagement is the cosine of the two videos' fan sets,
co / sqrt(fans_a * fans_b), so a video everybody likes is not related to everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RelatedWeights:
    content: float = 1.0  # x cosine of content vectors (copies ~0.8, unrelated clips <= 0.3)
    co_engagement: float = 1.5  # x fan-set cosine: taste beats looks once there is an audience
    popularity: float = 0.05  # x ln(1 + engagement) / ln(1 + 1e6): only separates otherwise equal candidates
    max_per_creator: int = 2  # an "up next" row of one creator's back catalogue is a profile, not related videos


def content_similarity(source: np.ndarray | None, vectors: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Cosine of each candidate's vector with the source's; 0 where either has none (``present`` False)."""
    n = len(present)
    if source is None or not n:
        return np.zeros(n)
    src = np.asarray(source, np.float32)
    src = src / max(float(np.linalg.norm(src)), 1e-12)
    mat = np.asarray(vectors, np.float32).reshape(n, -1)
    if mat.shape[1] != src.size:
        return np.zeros(n)
    norms = np.maximum(np.linalg.norm(mat, axis=1), 1e-12)
    return np.where(np.asarray(present, bool), (mat @ src) / norms, 0.0).astype(float)


def co_engagement(co: np.ndarray, source_fans: int, candidate_fans: np.ndarray) -> np.ndarray:
    """Fan-set cosine. A candidate's fans are at least the shared ones (its totals may lag the log)."""
    co = np.asarray(co, float)
    theirs = np.maximum(np.asarray(candidate_fans, float), co)
    return co / np.sqrt(np.maximum(float(source_fans), 1.0) * np.maximum(theirs, 1.0))


def related_scores(content: np.ndarray, co: np.ndarray, engagement: np.ndarray,
                   w: RelatedWeights = RelatedWeights()) -> np.ndarray:
    pop = np.log1p(np.maximum(np.asarray(engagement, float), 0.0)) / np.log1p(1e6)
    return (w.content * np.maximum(np.asarray(content, float), 0.0) + w.co_engagement * np.asarray(co, float)
            + w.popularity * pop)


def capped(order: Sequence[int], creators: Sequence[str | None], cap: int) -> list[int]:
    """``order`` with at most ``cap`` videos per creator; the ones over the cap go to the end, in order, so a
    short list still fills."""
    seen: dict[str | None, int] = {}
    head, tail = [], []
    for i in order:
        c = creators[i]
        n = seen.get(c, 0)
        if c is None or n < cap:
            head.append(i)
        else:
            tail.append(i)
        seen[c] = n + 1
    return head + tail
