"""Search ranking over arrays: text relevance combined with popularity and recency, for videos, people and terms
(hashtags, sounds, completions).

The catalog returns candidates with their raw signals (``catalog.search``); these functions turn them into one
score each. The forms are multiplicative on purpose: relevance gates (a video that matches nothing scores
nothing however viral it is), and popularity and freshness grow it by bounded factors, logarithmic in
engagement, so a viral match outranks an obscure one of similar relevance without drowning a better one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchWeights:
    popularity: float = 0.15  # x(1 + 0.15 ln(1 + engagement)): 10 -> 1.36, 10k -> 2.4, 1M -> 3.1
    freshness: float = 0.5  # x(1 + 0.5 * 2^(-age/half-life)): brand new 1.5, a week old ~1.1
    half_life_h: float = 72.0
    typo_penalty: float = 0.6  # a match only through a corrected word counts this much of an exact one
    user_popularity: float = 0.1  # x(1 + 0.1 ln(1 + followers)): 10k followers ~1.9
    term_popularity: float = 0.2  # x(1 + 0.2 ln(1 + videos)) for hashtags, sounds, completions
    prefix_floor: float = 0.8  # text score of a handle or term that starts with the query, growing to 1 when equal


def video_scores(relevance: np.ndarray, exact: np.ndarray, engagement: np.ndarray, age_h: np.ndarray,
                 w: SearchWeights = SearchWeights()) -> np.ndarray:
    """``relevance``: ts_rank of each candidate (hashtag matches weigh more than caption ones), scaled here by the
    best candidate's so the weights mean the same for every query; ``exact``: matched without typo correction."""
    rel = np.asarray(relevance, float)
    if not rel.size:
        return rel
    top = rel.max()
    rel = rel / top if top > 0 else np.zeros_like(rel)
    rel = rel * np.where(np.asarray(exact, bool), 1.0, w.typo_penalty)
    pop = 1.0 + w.popularity * np.log1p(np.maximum(np.asarray(engagement, float), 0.0))
    fresh = 1.0 + w.freshness * np.exp2(-np.maximum(np.asarray(age_h, float), 0.0) / w.half_life_h)
    return rel * pop * fresh


def text_match(similarity: np.ndarray, names: Sequence[str], query: str, w: SearchWeights = SearchWeights()
               ) -> np.ndarray:
    """How well each name matches the query, 0-1: trigram similarity (typo-tolerant), raised for a name that
    starts with the query (what someone typing a handle means) toward 1 as the query completes it."""
    sim = np.clip(np.asarray(similarity, float), 0.0, 1.0)
    prefix = np.array([(w.prefix_floor + (1 - w.prefix_floor) * len(query) / max(len(n), 1))
                       if n.startswith(query) else 0.0 for n in names], float)
    return np.maximum(sim, prefix) if sim.size else sim


def user_scores(text: np.ndarray, followers: np.ndarray, w: SearchWeights = SearchWeights()) -> np.ndarray:
    """Squared text match: a close handle beats a vaguely similar celebrity; followers break near-ties."""
    t = np.asarray(text, float)
    return t * t * (1.0 + w.user_popularity * np.log1p(np.maximum(np.asarray(followers, float), 0.0)))


def term_scores(text: np.ndarray, ndoc: np.ndarray, w: SearchWeights = SearchWeights()) -> np.ndarray:
    """Hashtags, sounds and completions: the text match, then how many videos use the term."""
    t = np.asarray(text, float)
    return t * t * (1.0 + w.term_popularity * np.log1p(np.maximum(np.asarray(ndoc, float), 0.0)))


def ranked(scores: np.ndarray, ids: Sequence[str]) -> list[int]:
    """Indices best first; equal scores in id order, so pages of one query are stable."""
    if not len(ids):
        return []
    return [int(i) for i in np.lexsort((np.asarray(ids, dtype=object).astype(str), -np.asarray(scores, float)))]
