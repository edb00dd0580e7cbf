"""Search queries over the catalog: video candidates from the full-text index, people by trigram similarity, the
term dictionary (words, hashtags, sounds) for typo correction, completion and hashtag/sound search, and its
rebuild. Scoring is not here: each query returns raw signals that ``recommend.search_rank`` combines.

Videos: ``search_doc @@ tsquery`` over the partial GIN index of discoverable videos (migration 0015), the
viewer's filters on top (those of ``catalog.feeds``), at most ``limit`` candidates in
``search_hot`` order (popularity x recency, a stored key). There are two plans, and which is cheaper depends
on how many videos match: collect every match through the GIN index and keep the hottest (cost ~ matches), or
walk the ``search_hot`` index from the top testing each row until ``limit`` match (cost ~ limit x N /
matches), which is what makes a word carried by half the catalog cheap. ``bitmap_is_cheaper`` decides from the
dictionary's counts; PostgreSQL's own choice underrates the cost of testing a row in the walk (a tsvector match
per row) and was seen taking 60 ms walks where the bitmap took 10.

Nothing here builds SQL from what the user typed: tsquery text comes from ``recommend.search_query`` (words of
letters and digits only) and goes in as a bound parameter, like every other value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Select, Text, bindparam, func, literal_column, not_, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from catalog.feeds import Viewer, engagement
from catalog.models import Follow, SearchTerm, User, Video, discoverable_sql

SIMPLE = literal_column("'simple'::regconfig")
# ts_rank weights for D, C, B, A: a word in the hashtags (A) counts 2.5 times one in the caption (B).
RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}"
FOLLOWER_COUNT_CAP = 10_000  # ranking needs the order of magnitude; counting a star's followers exactly is a scan
PREFIX_TERMS_MAX = 2_000  # completions of a prefix counted toward the estimate; more means "not selective"
KINDS = ("word", "tag", "sound")
# What the dictionary's trigram indexes are on (equal to the term itself; see migration 0015 for why).
TRIGRAM_KEY = func.lower(SearchTerm.__table__.c.term)


def _of_kind(kind: str):
    """``kind = '<kind>'`` as SQL text: each kind has a partial trigram index, which the planner can use only when
    it sees the value (not through a parameter of a cached generic plan)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return text(f"search_terms.kind = '{kind}'")


@dataclass(frozen=True)
class VideoCandidates:
    """Column arrays, row i one candidate (in no particular order: the ranking orders them)."""

    ids: list[str]
    rank: np.ndarray  # ts_rank with RANK_WEIGHTS
    exact: np.ndarray  # matched without typo corrections
    engagement: np.ndarray  # catalog.feeds.engagement
    watchable_ts: np.ndarray  # epoch seconds: when it became watchable

    def __len__(self) -> int:
        return len(self.ids)


def discoverable_count(session: Session) -> float:
    """About how many videos are discoverable: the row count ANALYZE keeps for the partial search index
    (-1 before the first ANALYZE)."""
    return float(session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'ix_videos_search_hot'"))
                 or -1)


def bitmap_is_cheaper(word_docs: Sequence[float], total: float, limit: int) -> bool:
    """Whether collecting all matches beats walking the hot index, for a query whose words (all required) are
    each in ``word_docs`` videos of ``total``. Words are taken as independent: matches ~ total x prod(shares).
    The bitmap costs ~matches rows, the walk ~limit x total / matches rows; equal at sqrt(limit x total)."""
    if total <= 0:  # never analyzed: a small catalog, where either plan is cheap
        return True
    matches = total
    for docs in word_docs:
        matches *= min(max(docs, 0.0) / total, 1.0)
    return matches * matches < limit * total


def _tsquery(param: str):
    return func.to_tsquery(SIMPLE, bindparam(param))


@functools.cache
def _candidates_statement(bitmap: bool, corrected: bool, limit: int) -> Select:
    """Built once per shape: building a select of this size costs more Python time (~2 ms) than running it."""
    q = _tsquery("q")
    # ``bitmap``: search_hot + 0 is an expression no index provides, so the planner must collect the matches (the
    # GIN bitmap) and sort them, instead of walking the search_hot index; otherwise the planner chooses.
    order = (Video.search_hot + 0) if bitmap else Video.search_hot
    # The viewer's filters as catalog.feeds applies them (blocked either way and "not interested" creators, "not
    # interested" tags), through parameters so the statement is one for every viewer.
    hidden = or_(Video.creator_id.is_(None), Video.creator_id.not_in(bindparam("hidden_creators", expanding=True)))
    tags = not_(Video.tag_keys.overlap(bindparam("hidden_tags", type_=ARRAY(Text))))
    # The limit is SQL text, not a parameter: a cached generic plan would not know it and could pick the wrong
    # one of the two plans above.
    top = (select(Video.id)
           .where(text(discoverable_sql("videos")), hidden, tags, Video.search_doc.op("@@")(q))
           .order_by(order.desc(), Video.id).limit(literal_column(str(int(limit)))).subquery())
    # Ranked only once chosen: below a sort, PostgreSQL computes the select list for every match, and ts_rank
    # (a tsvector read per row) over thousands of matches cost more than finding them.
    v = Video.__table__.alias("v")
    exact = v.c.search_doc.op("@@")(_tsquery("exact")) if corrected else literal_column("true")
    return (select(v.c.id, func.ts_rank(literal_column(f"'{RANK_WEIGHTS}'::float4[]"), v.c.search_doc, q), exact,
                   engagement(v.c), func.extract("epoch", func.coalesce(v.c.playable_at, v.c.created_at)))
            .join(top, top.c.id == v.c.id))


def video_candidates(session: Session, viewer: Viewer, query: str, exact_query: str | None = None, *,
                     limit: int = 200, bitmap: bool = False) -> VideoCandidates:
    """Discoverable videos matching the tsquery text ``query`` that ``viewer`` may see: the first ``limit`` in
    ``search_hot`` order. ``exact_query`` (the query without corrections) sets ``exact``; None: all exact.
    ``bitmap``: collect every match rather than let the planner choose (``bitmap_is_cheaper``)."""
    params = {"q": query, "hidden_creators": sorted(viewer.blocked | viewer.hidden_creators),
              "hidden_tags": sorted(viewer.hidden_tags)}
    if exact_query is not None:
        params["exact"] = exact_query
    rows = session.connection().execute(_candidates_statement(bitmap, exact_query is not None, limit), params).all()
    return VideoCandidates([r[0] for r in rows], np.array([r[1] for r in rows], float),
                           np.array([r[2] for r in rows], bool), np.array([r[3] for r in rows], float),
                           np.array([r[4] for r in rows], float))


# ------------------------------------------------------------------------------------------- the dictionary
@dataclass(frozen=True)
class Term:
    term: str
    label: str
    ndoc: int
    similarity: float = 1.0


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# Each statement below is built once (functools.cache) and run with parameters: building a SQLAlchemy select
# per call cost more Python time than PostgreSQL took to answer (measured 8 ms against 2 for the candidates).
_T = SearchTerm.__table__.c


@functools.cache
def _term_counts_statement() -> Select:
    return select(_T.term, _T.ndoc).where(_T.kind == bindparam("kind"),
                                          _T.term.in_(bindparam("words", expanding=True)))


def term_counts(session: Session, kind: str, words: Iterable[str]) -> dict[str, int]:
    """How many discoverable videos carry each word (absent: none, or the dictionary has not seen it yet)."""
    words = sorted(set(words))
    if not words:
        return {}
    rows = session.connection().execute(_term_counts_statement(), {"kind": kind, "words": words})
    return {t: n for t, n in rows}


def _starts_with():
    return _T.term.like(bindparam("prefix"), escape="\\")


@functools.cache
def _prefix_count_statement() -> Select:
    some = (select(_T.ndoc).where(_T.kind == bindparam("kind"), _starts_with())
            .limit(PREFIX_TERMS_MAX).subquery())
    return select(func.count(), func.coalesce(func.sum(some.c.ndoc), 0))


def prefix_count(session: Session, kind: str, prefix: str) -> tuple[int, int]:
    """(terms starting with ``prefix``, videos they are in summed), counting at most PREFIX_TERMS_MAX terms."""
    n, total = session.connection().execute(_prefix_count_statement(),
                                            {"kind": kind, "prefix": _like_prefix(prefix)}).one()
    return int(n), int(total)


@functools.cache
def _completions_statement() -> Select:
    return (select(_T.term, _T.label, _T.ndoc).where(_T.kind == bindparam("kind"), _starts_with())
            .order_by(_T.ndoc.desc(), _T.term).limit(bindparam("limit")))


def completions(session: Session, kind: str, prefix: str, *, limit: int = 5) -> list[Term]:
    """The most used terms starting with ``prefix``."""
    rows = session.connection().execute(_completions_statement(),
                                        {"kind": kind, "prefix": _like_prefix(prefix), "limit": limit})
    return [Term(r.term, r.label, r.ndoc) for r in rows]


@functools.cache
def _similar_statement(kind: str, prefix: bool) -> Select:
    w = bindparam("w")
    sim, match = func.similarity(TRIGRAM_KEY, w), TRIGRAM_KEY.op("%")(w)
    if prefix:
        sim = func.greatest(sim, func.word_similarity(w, TRIGRAM_KEY))
        match = or_(match, w.op("<%")(TRIGRAM_KEY))
    return (select(_T.term, _T.label, _T.ndoc, sim.label("sim"))
            .where(_of_kind(kind), match)
            .order_by(sim.desc(), _T.ndoc.desc(), _T.term).limit(bindparam("limit")))


def similar_terms(session: Session, kind: str, word: str, *, prefix: bool = False, limit: int = 3) -> list[Term]:
    """Dictionary terms within trigram similarity of ``word`` (pg_trgm's thresholds: 0.3 for the whole term),
    closest first, then the most used. ``prefix``: the word may still be being typed, so a term whose start
    is close to it counts too (word_similarity, threshold 0.6)."""
    rows = session.connection().execute(_similar_statement(kind, prefix), {"w": word, "limit": limit})
    return [Term(r.term, r.label, r.ndoc, float(r.sim)) for r in rows]


@functools.cache
def _find_statement(kind: str) -> Select:
    k = bindparam("k")
    sim = func.similarity(TRIGRAM_KEY, k)
    return (select(_T.term, _T.label, _T.ndoc, sim.label("sim"))
            .where(_of_kind(kind), or_(_starts_with(), TRIGRAM_KEY.op("%")(k)))
            .order_by(_starts_with().desc(), sim.desc(), _T.ndoc.desc(), _T.term).limit(bindparam("limit")))


def find_terms(session: Session, kind: str, key: str, *, limit: int = 100) -> list[Term]:
    """Hashtags or sounds for a search box: those starting with ``key`` first, then typo-close ones."""
    rows = session.connection().execute(_find_statement(kind),
                                        {"k": key, "prefix": _like_prefix(key), "limit": limit})
    return [Term(r.term, r.label, r.ndoc, float(r.sim)) for r in rows]


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


VIDEO_ID = re.compile(r"[0-9a-f]{16}")


def add_video_terms(session: Session, video_id: str) -> bool:
    """Count one newly watchable video's words, hashtags and sound in the dictionary now, so that typo
    correction and completion know a new caption within seconds instead of at the next rebuild (which
    reconciles every count, and forgets the video's terms if it stops being discoverable). Nothing happens if
    the video is not discoverable. Never waits for a rebuild in progress: False if one holds the dictionary
    (that rebuild or the next one counts the video)."""
    if not VIDEO_ID.fullmatch(video_id):  # it goes into ts_stat's query text
        raise ValueError(f"not a video id: {video_id!r}")
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext('reelflow.search_terms'))")):
        return False
    where = f"{discoverable_sql()} AND id = '{video_id}'"
    upsert = " ON CONFLICT (kind, term) DO UPDATE SET ndoc = search_terms.ndoc + EXCLUDED.ndoc"
    session.execute(text(
        "INSERT INTO search_terms (kind, term, label, ndoc) "
        "SELECT 'word', word, word, ndoc FROM ts_stat(:docs) WHERE char_length(word) <= 64" + upsert),
        {"docs": "SELECT search_doc FROM videos WHERE " + where})
    session.execute(text(
        "INSERT INTO search_terms (kind, term, label, ndoc) "
        f"SELECT DISTINCT 'tag', t, t, 1 FROM videos, unnest(tag_keys) AS t WHERE {where} AND t <> ''" + upsert))
    session.execute(text(
        "INSERT INTO search_terms (kind, term, label, ndoc) "
        f"SELECT 'sound', lower(sound_id), sound_id, 1 FROM videos WHERE {where} AND sound_id IS NOT NULL" + upsert))
    return True


# ------------------------------------------------------------------------------------------- people
@dataclass(frozen=True)
class UserCandidate:
    id: str
    handle: str
    display_name: str
    similarity: float
    followers: int  # capped at FOLLOWER_COUNT_CAP


@functools.cache
def _users_statement() -> Select:
    u, f = User.__table__.alias("u"), Follow.__table__
    qp = bindparam("q")
    starts = u.c.handle.like(bindparam("prefix"), escape="\\")
    sim = func.greatest(func.similarity(u.c.handle, qp), func.word_similarity(qp, u.c.display_name))
    some = (select(f.c.follower_id).where(f.c.followee_id == u.c.id).correlate(u)
            .limit(FOLLOWER_COUNT_CAP).subquery())
    followers = select(func.count()).select_from(some).correlate(u).scalar_subquery()
    return (select(u.c.id, u.c.handle, u.c.display_name, sim.label("sim"), followers.label("followers"))
            .where(or_(starts, u.c.handle.op("%")(qp), qp.op("<%")(u.c.display_name)),
                   u.c.id.not_in(bindparam("exclude", expanding=True)))
            .order_by(starts.desc(), sim.desc(), u.c.id).limit(bindparam("limit")))


def user_candidates(session: Session, q: str, *, exclude: Sequence[str] = (), limit: int = 100) -> list[UserCandidate]:
    """People whose handle starts with ``q`` or is typo-close to it, or whose display name holds something close
    to it; handle prefixes first, then by similarity. ``exclude``: blocked either way."""
    rows = session.connection().execute(_users_statement(), {"q": q, "prefix": _like_prefix(q),
                                                             "exclude": list(exclude), "limit": limit})
    return [UserCandidate(r.id, r.handle, r.display_name, float(r.sim), int(r.followers)) for r in rows]
