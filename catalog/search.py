"""Search queries over the catalog: video candidates from the full-text index, people by trigram similarity, the
term dictionary (words, hashtags, sounds) for typo correction, completion and hashtag/sound search, and its
rebuild. Scoring is not here: each query returns raw signals that ``recommend.search_rank`` combines.

Videos: ``search_doc @@ tsquery`` over the partial GIN index of discoverable videos (migration 0015), the
viewer's filters on top (``catalog.feeds.discovery_conditions``), at most ``limit`` candidates in
``search_hot`` order (popularity x recency, a stored key). Where the dictionary says the query is selective,
the plan is pinned to the GIN bitmap and a top-N sort; otherwise the planner may walk the ``search_hot`` index
and stop at the first ``limit`` matches, which is what makes a word carried by half the catalog cheap.

Nothing here builds SQL from what the user typed: tsquery text comes from ``recommend.search_query`` (words of
letters and digits only) and goes in as a bound parameter, like every other value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, literal_column, or_, select, text
from sqlalchemy.orm import Session

from catalog.feeds import Viewer, discovery_conditions
from catalog.models import Follow, SearchTerm, User, Video, discoverable_sql

SIMPLE = literal_column("'simple'::regconfig")
# ts_rank weights for D, C, B, A: a word in the hashtags (A) counts 2.5 times one in the caption (B).
RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"
FOLLOWER_COUNT_CAP = 10_000  # ranking needs the order of magnitude; counting a star's followers exactly is a scan
SELECTIVE_MAX = 5_000  # estimated matches under which the bitmap plan is pinned (a sort of 5k rows is ~1 ms)
PREFIX_TERMS_MAX = 2_000  # completions of a prefix counted toward the estimate; more means "not selective"
KINDS = ("word", "tag", "sound")


@dataclass(frozen=True)
class VideoCandidate:
    id: str
    creator_id: str | None
    rank: float  # ts_rank with RANK_WEIGHTS
    exact: bool  # matches without typo corrections
    views: int
    likes: int
    comments: int
    shares: int
    watchable_at: datetime


def _tsquery(param: str):
    return func.to_tsquery(SIMPLE, bindparam(param))


def video_candidates(session: Session, viewer: Viewer, query: str, exact_query: str | None = None, *,
                     limit: int = 500, selective: bool = False) -> list[VideoCandidate]:
    """Discoverable videos matching the tsquery text ``query`` that ``viewer`` may see, at most ``limit``, in
    ``search_hot`` order. ``exact_query`` (the query without corrections) sets ``exact``; None: all exact."""
    q = _tsquery("q")
    exact = Video.search_doc.op("@@")(_tsquery("exact")) if exact_query is not None else literal_column("true")
    # search_hot + 0 is an expression no index provides: the planner must collect the matches (the GIN bitmap)
    # and sort them, instead of walking the search_hot index and testing every row until enough match.
    order = (Video.search_hot + 0) if selective else Video.search_hot
    stmt = (select(Video.id, Video.creator_id,
                   func.ts_rank(literal_column(f"'{RANK_WEIGHTS}'::float4[]"), Video.search_doc, q).label("rank"),
                   exact.label("exact"), Video.view_count, Video.like_count, Video.comment_count, Video.share_count,
                   func.coalesce(Video.playable_at, Video.created_at).label("at"))
            .where(text(discoverable_sql("videos")), *discovery_conditions(viewer), Video.search_doc.op("@@")(q))
            .order_by(order.desc(), Video.id).limit(limit))
    params = {"q": query, **({"exact": exact_query} if exact_query is not None else {})}
    return [VideoCandidate(r.id, r.creator_id, float(r.rank), bool(r.exact), r.view_count, r.like_count,
                           r.comment_count, r.share_count, r.at) for r in session.execute(stmt, params)]


# ------------------------------------------------------------------------------------------- the dictionary
@dataclass(frozen=True)
class Term:
    term: str
    label: str
    ndoc: int
    similarity: float = 1.0


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def term_counts(session: Session, kind: str, words: Iterable[str]) -> dict[str, int]:
    """How many discoverable videos carry each word (absent: none, or the dictionary has not seen it yet)."""
    words = sorted(set(words))
    if not words:
        return {}
    stmt = select(SearchTerm.term, SearchTerm.ndoc).where(SearchTerm.kind == kind, SearchTerm.term.in_(words))
    return {t: n for t, n in session.execute(stmt)}


def prefix_count(session: Session, kind: str, prefix: str) -> tuple[int, int]:
    """(terms starting with ``prefix``, videos they are in summed), counting at most PREFIX_TERMS_MAX terms."""
    some = (select(SearchTerm.ndoc).where(SearchTerm.kind == kind,
                                          SearchTerm.term.like(_like_prefix(prefix), escape="\\"))
            .limit(PREFIX_TERMS_MAX).subquery())
    n, total = session.execute(select(func.count(), func.coalesce(func.sum(some.c.ndoc), 0))).one()
    return int(n), int(total)


def completions(session: Session, kind: str, prefix: str, *, limit: int = 5) -> list[Term]:
    """The most used terms starting with ``prefix``."""
    stmt = (select(SearchTerm.term, SearchTerm.label, SearchTerm.ndoc)
            .where(SearchTerm.kind == kind, SearchTerm.term.like(_like_prefix(prefix), escape="\\"))
            .order_by(SearchTerm.ndoc.desc(), SearchTerm.term).limit(limit))
    return [Term(r.term, r.label, r.ndoc) for r in session.execute(stmt)]


def similar_terms(session: Session, kind: str, word: str, *, prefix: bool = False, limit: int = 3) -> list[Term]:
    """Dictionary terms within trigram similarity of ``word`` (pg_trgm's thresholds: 0.3 for the whole term),
    closest first, then the most used. ``prefix``: the word may still be being typed, so a term whose start
    is close to it counts too (word_similarity, threshold 0.6)."""
    w = bindparam("w", word)
    sim, match = func.similarity(SearchTerm.term, w), SearchTerm.term.op("%")(w)
    if prefix:
        sim = func.greatest(sim, func.word_similarity(w, SearchTerm.term))
        match = or_(match, w.op("<%")(SearchTerm.term))
    stmt = (select(SearchTerm.term, SearchTerm.label, SearchTerm.ndoc, sim.label("sim"))
            .where(SearchTerm.kind == kind, match)
            .order_by(sim.desc(), SearchTerm.ndoc.desc(), SearchTerm.term).limit(limit))
    return [Term(r.term, r.label, r.ndoc, float(r.sim)) for r in session.execute(stmt)]


def find_terms(session: Session, kind: str, key: str, *, limit: int = 100) -> list[Term]:
    """Hashtags or sounds for a search box: those starting with ``key`` first, then typo-close ones."""
    k = bindparam("k", key)
    starts = SearchTerm.term.like(bindparam("p", _like_prefix(key)), escape="\\")
    sim = func.similarity(SearchTerm.term, k)
    stmt = (select(SearchTerm.term, SearchTerm.label, SearchTerm.ndoc, sim.label("sim"))
            .where(SearchTerm.kind == kind, or_(starts, SearchTerm.term.op("%")(k)))
            .order_by(starts.desc(), sim.desc(), SearchTerm.ndoc.desc(), SearchTerm.term).limit(limit))
    return [Term(r.term, r.label, r.ndoc, float(r.sim)) for r in session.execute(stmt)]


def refresh_terms(session: Session) -> dict[str, int]:
    """Rebuild the dictionary from the discoverable videos, in one transaction (readers keep the old one until
    it commits): words of captions and hashtags as indexed, hashtag keys, sound ids. A term only private,
    deleted or removed videos use is gone after this. Returns the count per kind."""
    # Two refreshes at once would each delete the other's rows and collide on insert: take turns.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('reelflow.search_terms'))"))
    session.execute(text("DELETE FROM search_terms"))
    where = discoverable_sql()
    docs = "SELECT search_doc FROM videos WHERE " + where  # ts_stat takes its query as a string literal
    session.execute(text(
        "INSERT INTO search_terms (kind, term, label, ndoc) "
        "SELECT 'word', word, word, ndoc FROM ts_stat(:docs) WHERE char_length(word) <= 64"), {"docs": docs})
    session.execute(text(
        "INSERT INTO search_terms (kind, term, label, ndoc) "
        f"SELECT 'tag', t, t, count(*) FROM videos, unnest(tag_keys) AS t WHERE {where} AND t <> '' GROUP BY t"))
    session.execute(text(
        "INSERT INTO search_terms (kind, term, label, ndoc) "
        f"SELECT 'sound', lower(sound_id), min(sound_id), count(*) FROM videos WHERE {where} AND sound_id IS NOT NULL "
        "GROUP BY lower(sound_id)"))
    counts = dict(session.execute(select(SearchTerm.kind, func.count()).group_by(SearchTerm.kind)).all())
    return {k: int(counts.get(k, 0)) for k in KINDS}


# ------------------------------------------------------------------------------------------- people
@dataclass(frozen=True)
class UserCandidate:
    id: str
    handle: str
    display_name: str
    similarity: float
    followers: int  # capped at FOLLOWER_COUNT_CAP


def user_candidates(session: Session, q: str, *, exclude: Sequence[str] = (), limit: int = 100) -> list[UserCandidate]:
    """People whose handle starts with ``q`` or is typo-close to it, or whose display name holds something close
    to it; handle prefixes first, then by similarity. ``exclude``: blocked either way."""
    qp = bindparam("q", q)
    starts = User.handle.like(bindparam("p", _like_prefix(q)), escape="\\")
    sim = func.greatest(func.similarity(User.handle, qp), func.word_similarity(qp, User.display_name))
    some = (select(Follow.follower_id).where(Follow.followee_id == User.id).correlate(User)
            .limit(FOLLOWER_COUNT_CAP).subquery())
    followers = select(func.count()).select_from(some).correlate(User).scalar_subquery()
    stmt = (select(User.id, User.handle, User.display_name, sim.label("sim"), followers.label("followers"))
            .where(or_(starts, User.handle.op("%")(qp), qp.op("<%")(User.display_name)))
            .order_by(starts.desc(), sim.desc(), User.id).limit(limit))
    if exclude:
        stmt = stmt.where(User.id.not_in(list(exclude)))
    return [UserCandidate(r.id, r.handle, r.display_name, float(r.sim), int(r.followers))
            for r in session.execute(stmt)]
