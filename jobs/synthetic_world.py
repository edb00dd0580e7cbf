"""A synthetic world with planted interests, in the real catalog, to drive the whole loop in tests and demos:
events -> DAGs -> pools -> feed.

Topics are the ground truth: every video belongs to one (its first hashtag), every
background user loves one, and content vectors cluster by topic (a random unit centroid per topic plus
noise), standing in for the EfficientNet embedding of real footage. Videos carry no category: the feed caps
a category at 3 of 10 per page, which would cap a topic too if topics were categories. The simulator plays users through
videos the way the planted tastes say (finish your topic, skip the rest) and writes the events with the
same repository function the API's interaction endpoint uses (``catalog.events.append``).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from catalog import embeddings, social, users
from catalog import events as log
from catalog import videos as repo
from catalog.models import Video

EMBEDDING_MODEL = "synthetic-topics-v1"
TOPICS = ("cooking", "football", "travel", "music", "comedy", "science", "dance", "pets")
DURATION_MS = 15_000


@dataclass
class World:
    topics: tuple[str, ...]
    embedding_model: str
    creators: dict[str, str] = field(default_factory=dict)  # creator id -> topic
    videos: dict[str, str] = field(default_factory=dict)  # video id -> topic
    users: dict[str, str] = field(default_factory=dict)  # background user id -> planted topic
    region: str = "eu"

    def topic_of(self, video_id: str) -> str | None:
        return self.videos.get(video_id)

    def of_topic(self, topic: str) -> list[str]:
        return sorted(v for v, t in self.videos.items() if t == topic)


def build_world(session: Session, *, n_topics: int = 6, videos_per_topic: int = 40, creators_per_topic: int = 3,
                n_users: int = 30, region: str = "eu", dim: int = 32, noise: float = 0.5, seed: int = 7,
                now: datetime, embedding_model: str = EMBEDDING_MODEL, max_age_h: float = 72.0) -> World:
    """Creators, ready public videos with tags, categories and content vectors, and users with planted topics."""
    rng = np.random.default_rng(seed)
    tag = secrets.token_hex(3)  # handles are unique per catalog: several worlds may share one database
    topics = TOPICS[:n_topics]
    world = World(topics, embedding_model, region=region)
    centroids = rng.normal(size=(n_topics, dim))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    for t, topic in enumerate(topics):
        creators = []
        for c in range(creators_per_topic):
            u = users.create_user(session, handle=f"syn{tag}_{topic}_c{c}", region=region)
            world.creators[u.id] = topic
            creators.append(u.id)
        for j in range(videos_per_topic):
            v = repo.create_video(session, caption=f"{topic} clip {j}", hashtags=[topic, f"{topic}{j % 3}"],
                                  creator_id=creators[j % creators_per_topic], region=region)
            repo.start_processing(session, v.id, run_id="synthetic")
            prefix = f"v/{v.id}/syn"
            repo.mark_ready(session, v.id, publish_prefix=prefix, master_key=f"{prefix}/master.m3u8", renditions=[],
                            poster_key=f"{prefix}/thumbs/poster_720.jpg")
            video = session.get(Video, v.id)
            video.ready_at = video.playable_at = now - timedelta(hours=float(rng.uniform(1.0, max_age_h)))
            vec = centroids[t] + noise * rng.normal(size=dim) / np.sqrt(dim)
            embeddings.save_embedding(session, v.id, embedding_model, vec / np.linalg.norm(vec))
            world.videos[v.id] = topic
    for i in range(n_users):
        topic = topics[i % n_topics]
        u = users.create_user(session, handle=f"syn{tag}_u{i}", region=region)
        world.users[u.id] = topic
    session.flush()
    return world


def player_events(video_id: str, *, finish: bool, session_id: str | None = None,
                  duration_ms: int = DURATION_MS) -> list[dict]:
    """What a player sends for one video: a start, then a completion or an early skip (API payload form)."""
    start = {"video_id": video_id, "kind": "view_start", "watch_ms": 0, "progress": 0.0}
    if finish:
        end = {"video_id": video_id, "kind": "complete", "watch_ms": duration_ms, "progress": 1.0}
    else:
        end = {"video_id": video_id, "kind": "skip", "watch_ms": duration_ms // 8, "progress": 0.12}
    if session_id:
        start["session_id"] = end["session_id"] = session_id
    return [start, end]


def simulate(session: Session, world: World, *, now: datetime, views_per_user: int = 30, own_share: float = 0.5,
             p_finish_own: float = 0.9, p_finish_other: float = 0.1, p_like_own: float = 0.2,
             span_h: float = 48.0, seed: int = 11) -> int:
    """Background users watch a mix of their topic and everything else; returns the events written.

    Views are spread over the last ``span_h`` hours. Finishing follows the planted topic, and some finished
    videos of the user's topic are liked (a like row and a ``like`` event, as the API writes them).
    """
    rng = random.Random(seed)
    by_topic = {t: world.of_topic(t) for t in world.topics}
    everything = sorted(world.videos)
    batch: list[log.Event] = []
    for n, (user, topic) in enumerate(sorted(world.users.items())):
        if n % 2 == 0:  # half the users follow one creator of their topic
            social.follow(session, user, min(c for c, t in world.creators.items() if t == topic))
        watched = set()
        for _ in range(views_per_user):
            pool = by_topic[topic] if rng.random() < own_share else everything
            vid = rng.choice(pool)
            if vid in watched:
                continue
            watched.add(vid)
            own = world.videos[vid] == topic
            finish = rng.random() < (p_finish_own if own else p_finish_other)
            at = now - timedelta(hours=rng.uniform(0.1, span_h))
            sid = secrets.token_hex(8)
            for i, e in enumerate(player_events(vid, finish=finish, session_id=sid)):
                batch.append(log.Event(user_id=user, kind=e["kind"], video_id=vid, session_id=sid,
                                       watch_ms=e["watch_ms"], progress=e["progress"], counted=i == 0,
                                       occurred_at=at + timedelta(seconds=i * 15)))
            if own and finish and rng.random() < p_like_own:
                social.like(session, user, vid)
                batch.append(log.Event(user_id=user, kind="like", video_id=vid, occurred_at=at + timedelta(seconds=16)))
    log.append(session, batch)
    return len(batch)


def topic_share(video_ids: list[str], world: World, topic: str) -> float:
    known = [v for v in video_ids if v in world.videos]
    return sum(world.videos[v] == topic for v in known) / len(known) if known else 0.0
