"""Discovery: trending hashtags and sounds per region, suggested creators, related videos. The catalog's
candidates and signals (``catalog.discovery``) scored by the pure modules in ``recommend/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from catalog import discovery
from catalog.models import User
from media.embedding import MODEL_NAME as EMBEDDING_MODEL
from recommend import related, search_rank
from recommend.creator_suggestions import CreatorWeights, creator_scores
from recommend.related import RelatedWeights
from recommend.trends import TrendConfig, trend_scores

TRENDS = TrendConfig()
CREATORS = CreatorWeights()
RELATED = RelatedWeights()
# Content vectors by preference: the ingest's model; a source with only others (a test world's) uses its own.
CONTENT_MODELS = (EMBEDDING_MODEL,)


@dataclass(frozen=True)
class TrendItem:
    term: str  # key: a hashtag in lower case, a sound id in lower case
    label: str  # as shown
    score: float
    users: int


@dataclass(frozen=True)
class CreatorSuggestion:
    id: str
    handle: str
    display_name: str
    reason: str
    mutual: int
    followers: int
    score: float


def trending(session: Session, kind: str, *, as_of: datetime, region: str | None = None,
             cfg: TrendConfig = TRENDS, limit: int = 50) -> list[TrendItem]:
    """``kind`` "tag" or "sound"; ``region`` None: engagement from everywhere."""
    rows = discovery.trend_rows(session, kind, as_of=as_of, window_h=cfg.window_h, region=region)
    return [TrendItem(t.key, rows.labels.get(t.key, t.key), t.score, t.users)
            for t in trend_scores(rows.keys, rows.kinds, rows.age_h, rows.users, rows.window_users, cfg,
                                  limit=limit)]


def suggested_creators(session: Session, user_id: str, *, as_of: datetime, weights: CreatorWeights = CREATORS,
                       limit: int = 20) -> list[CreatorSuggestion]:
    user = session.get(User, user_id)
    region = user.region if user else "global"
    interests = list(user.interests or []) if user else []
    cands = discovery.creator_candidates(session, user_id, region=region, interests=interests, as_of=as_of)
    if not cands:
        return []
    scores, reasons = creator_scores(np.array([c.mutual for c in cands]), np.array([c.followers for c in cands]),
                                     np.array([c.region == region and region != "global" for c in cands]),
                                     np.array([c.interest_videos for c in cands]),
                                     np.array([c.recent_engagement for c in cands]), weights)
    order = search_rank.ranked(scores, [c.id for c in cands])[:limit]
    return [CreatorSuggestion(cands[i].id, cands[i].handle, cands[i].display_name, reasons[i], cands[i].mutual,
                              cands[i].followers, float(scores[i])) for i in order]


def related_videos(session: Session, video_id: str, *, as_of: datetime, models: tuple[str, ...] = CONTENT_MODELS,
                   weights: RelatedWeights = RELATED, limit: int = 100) -> list[tuple[str, float]]:
    """(video id, score), best first, at most ``weights.max_per_creator`` per creator ahead of the rest. The
    same for every viewer: callers drop what the viewer must not see."""
    c = discovery.related_candidates(session, video_id, as_of=as_of, models=models)
    if not c.ids:
        return []
    content = related.content_similarity(c.source_vector, c.vectors, c.present)
    co = related.co_engagement(c.co, c.source_fans, c.fans)
    scores = related.related_scores(content, co, c.engagement, weights)
    order = related.capped(search_rank.ranked(scores, c.ids), c.creators, weights.max_per_creator)[:limit]
    return [(c.ids[i], float(scores[i])) for i in order]
