"""Search: the catalog's candidates (``catalog.search``) ranked by ``recommend.search_rank``, for videos, people,
hashtags and sounds, with typo correction and search-box suggestions; and the dictionary's rebuild for the
``refresh_search`` DAG.

Typo tolerance works on words, not on whole captions: every word of the query is looked up in the dictionary
of words the discoverable videos use; one it does not hold (and, while typed, one no word starts with) is
searched together with its closest dictionary words by trigram similarity, and matches through a correction
rank below exact ones. The typed word stays in the query too, so a word newer than the dictionary still
matches exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from catalog import search as catalog_search
from catalog import social
from catalog.db import session_scope
from catalog.feeds import Viewer
from config.clients import sessions
from config.settings import Settings
from recommend import search_rank
from recommend.search_query import ParsedQuery, QueryProblem, normalise, parse, term_key, tsquery_text
from recommend.search_rank import SearchWeights

VIDEO_CANDIDATES = 200  # re-ranked per query (10 pages of 20); deeper pages are not served (docs/search.md)
USER_CANDIDATES = 100
TERM_CANDIDATES = 100
MIN_CORRECTED = 4  # shorter words share too few trigrams with their typos for a correction to be a guess
SUGGESTIONS = 3  # per kind
WEIGHTS = SearchWeights()


@dataclass(frozen=True)
class VideoResults:
    ids: list[str]
    scores: list[float]
    corrections: dict[str, list[str]] = field(default_factory=dict)  # typed word -> words also searched


@dataclass(frozen=True)
class UserHit:
    id: str
    handle: str
    display_name: str
    followers: int
    score: float


@dataclass(frozen=True)
class TermHit:
    term: str  # the key: lower case
    label: str  # as shown (a sound id keeps its case)
    videos: int
    score: float


@dataclass(frozen=True)
class Suggestion:
    kind: str  # query | hashtag | user
    text: str
    id: str | None = None  # a user's id
    videos: int | None = None  # a completion's or hashtag's video count


def search_videos(session: Session, viewer: Viewer, query: ParsedQuery, *, as_of: datetime,
                  weights: SearchWeights = WEIGHTS) -> VideoResults:
    words = query.words
    counts = catalog_search.term_counts(session, "word", [w.text for w in words if not w.prefix])
    alternatives: dict[int, list[str]] = {}
    docs: list[float] = []  # per word, the videos it (or its completions, or corrections) is in
    for i, w in enumerate(words):
        if w.prefix:
            n_terms, n_docs = catalog_search.prefix_count(session, "word", w.text)
            known, est = n_terms > 0, (math.inf if n_terms >= catalog_search.PREFIX_TERMS_MAX else n_docs)
        else:
            known, est = w.text in counts, counts.get(w.text, 0)
        if not known and len(w.text) >= MIN_CORRECTED:
            similar = catalog_search.similar_terms(session, "word", w.text, prefix=w.prefix)
            if similar:
                alternatives[i] = [t.term for t in similar]
                est += sum(t.ndoc for t in similar)
        docs.append(est)
    bitmap = catalog_search.bitmap_is_cheaper(docs, catalog_search.discoverable_count(session), VIDEO_CANDIDATES)
    exact = tsquery_text(words) if alternatives else None
    cands = catalog_search.video_candidates(session, viewer, tsquery_text(words, alternatives), exact,
                                            limit=VIDEO_CANDIDATES, bitmap=bitmap)
    if not len(cands):
        return VideoResults([], [], _corrections(query, alternatives))
    age_h = (as_of.timestamp() - cands.watchable_ts) / 3600.0
    scores = search_rank.video_scores(cands.rank, cands.exact, cands.engagement, age_h, weights)
    order = search_rank.ranked(scores, cands.ids)
    return VideoResults([cands.ids[i] for i in order], [float(scores[i]) for i in order],
                        _corrections(query, alternatives))


def _corrections(query: ParsedQuery, alternatives: dict[int, list[str]]) -> dict[str, list[str]]:
    return {query.words[i].text: alts for i, alts in alternatives.items()}


def people_query(q: str) -> str:
    """What a person search matches handles and names with: "@Alice " -> "alice"."""
    text = normalise(q).lstrip("@").strip()
    if len(text) < 2:
        raise QueryProblem("q must hold at least 2 characters besides @")
    return text


def search_users(session: Session, viewer_id: str | None, q: str, *, weights: SearchWeights = WEIGHTS,
                 limit: int = USER_CANDIDATES) -> list[UserHit]:
    """People by handle (prefix or typo-close) or display name; never anyone blocked either way."""
    text = people_query(q)
    blocked = sorted(social.blocked_either_way(session, viewer_id)) if viewer_id else []
    cands = catalog_search.user_candidates(session, text, exclude=blocked, limit=limit)
    if not cands:
        return []
    match = search_rank.text_match(np.array([c.similarity for c in cands]), [c.handle for c in cands], text, weights)
    scores = search_rank.user_scores(match, np.array([c.followers for c in cands]), weights)
    return [UserHit(cands[i].id, cands[i].handle, cands[i].display_name, cands[i].followers, float(scores[i]))
            for i in search_rank.ranked(scores, [c.id for c in cands])]


def search_terms(session: Session, kind: str, q: str, *, hidden: frozenset[str] = frozenset(),
                 weights: SearchWeights = WEIGHTS, limit: int = TERM_CANDIDATES) -> list[TermHit]:
    """Hashtags (``kind`` "tag") or sounds ("sound") by prefix or typo-closeness, the most used first among
    equals; ``hidden``: hashtags the viewer said "not interested" to."""
    key = term_key(q, keep=".:-" if kind == "sound" else "")
    found = [t for t in catalog_search.find_terms(session, kind, key, limit=limit)
             if not (kind == "tag" and t.term in hidden)]
    if not found:
        return []
    match = search_rank.text_match(np.array([t.similarity for t in found]), [t.term for t in found], key, weights)
    scores = search_rank.term_scores(match, np.array([t.ndoc for t in found]), weights)
    return [TermHit(found[i].term, found[i].label, found[i].ndoc, float(scores[i]))
            for i in search_rank.ranked(scores, [t.term for t in found])]


def suggest(session: Session, viewer: Viewer, q: str) -> list[Suggestion]:
    """For a search box, cheap: completed queries (the last word completed, or corrected, from the dictionary),
    then hashtags, then people. Each part is a few index look-ups."""
    query = parse(q)
    out: list[Suggestion] = []
    last, head = query.words[-1], " ".join(("#" if w.tag else "") + w.text for w in query.words[:-1])
    words = (catalog_search.completions(session, "word", last.text, limit=SUGGESTIONS) if last.prefix
             else [])
    if not words and len(last.text) >= MIN_CORRECTED:
        words = [t for t in catalog_search.similar_terms(session, "word", last.text, prefix=last.prefix,
                                                         limit=SUGGESTIONS) if t.term != last.text]
    for t in words:
        text = ("#" if last.tag else "") + t.term
        out.append(Suggestion("query", f"{head} {text}".strip(), videos=t.ndoc))
    try:
        tags = search_terms(session, "tag", q, hidden=viewer.hidden_tags, limit=SUGGESTIONS * 4)[:SUGGESTIONS]
    except QueryProblem:
        tags = []
    out += [Suggestion("hashtag", "#" + t.label, videos=t.videos) for t in tags]
    try:
        people = search_users(session, viewer.user_id, q, limit=SUGGESTIONS * 4)[:SUGGESTIONS]
    except QueryProblem:
        people = []
    out += [Suggestion("user", "@" + p.handle, id=p.id) for p in people]
    return out


def refresh_terms(settings: Settings) -> dict[str, int]:
    """The ``refresh_search`` DAG's task: rebuild the dictionary; the count per kind."""
    with session_scope(sessions(settings)) as s:
        return catalog_search.refresh_terms(s)
