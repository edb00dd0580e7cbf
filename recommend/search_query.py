"""What a search box sends, turned into words: normalisation, the problems worth a clear answer, and the text of a
PostgreSQL ``tsquery`` built only from those words.

Nothing the user typed reaches the tsquery parser as syntax: the words are runs of letters and digits
(``& | ! : * ( ) '`` and every other mark only separate them), so a query can never be a tsquery syntax error or
change the query's meaning. A word written ``#word`` must match a hashtag. The last word is a prefix while the
query is being typed (no space after it), which is what makes results appear as you type.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_QUERY_CHARS = 100  # longer is not a search but a paste; the API answers 422 before any work
MAX_WORDS = 8  # words after the eighth add nothing a person typed on purpose; they are dropped
MAX_WORD_CHARS = 64  # a lexeme longer than any hashtag cannot match anything
MIN_QUERY_CHARS = 2  # one letter matches a large part of the catalog; the box answers from the second on

# A word: letters and digits (any script), optionally marked as a hashtag. Underscores separate, as PostgreSQL's
# parser splits "funny_cats" into "funny" and "cats" in the indexed text.
_WORD = re.compile(r"(#?)([^\W_]+)")
_TAIL = re.compile(r"[^\W_]\Z")
_KEY = re.compile(r"[^\w]+")


class QueryProblem(ValueError):
    """The query cannot be searched; the message says why, for the person typing."""


@dataclass(frozen=True)
class Word:
    text: str
    tag: bool = False  # written as #text: match hashtags only
    prefix: bool = False  # the word being typed: match words that start with it


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # normalised: NFKC, case-folded, whitespace collapsed
    words: tuple[Word, ...]

    @property
    def key(self) -> str:
        """Identifies the query in a cursor: the same words give the same key."""
        return " ".join(("#" if w.tag else "") + w.text + ("*" if w.prefix else "") for w in self.words)


def normalise(q: str) -> str:
    """NFKC folds full-width and compatibility forms (what phone keyboards send), casefold lowers any script."""
    if "\x00" in q:
        raise QueryProblem("q must not contain a NUL character")
    return " ".join(unicodedata.normalize("NFKC", q).casefold().split())


def parse(q: str, *, as_you_type: bool = True) -> ParsedQuery:
    """The words of ``q``. ``as_you_type``: the last word is a prefix unless a space follows it."""
    if len(q) > MAX_QUERY_CHARS:
        raise QueryProblem(f"q must be at most {MAX_QUERY_CHARS} characters")
    text = normalise(q)
    found = [(bool(m.group(1)), m.group(2)[:MAX_WORD_CHARS]) for m in _WORD.finditer(text)][:MAX_WORDS]
    if sum(len(w) for _, w in found) < MIN_QUERY_CHARS:
        raise QueryProblem(f"q must hold at least {MIN_QUERY_CHARS} letters or digits")
    # Still typing: the query ends in the middle of a word (no space or mark after it) that was not dropped.
    open_end = (as_you_type and not q[-1:].isspace() and _TAIL.search(text) is not None
                and len(found) == len(_WORD.findall(text)))
    words = [Word(w, tag, prefix=open_end and i == len(found) - 1) for i, (tag, w) in enumerate(found)]
    # A word twice asks nothing more, but PostgreSQL would count its selectivity twice and misjudge the plan.
    return ParsedQuery(text, tuple(dict.fromkeys(words)))


def term_key(q: str, *, keep: str = "") -> str:
    """A hashtag or sound as typed (``#Funny_Cats``, ``Artist:Song``) -> the dictionary's key: lower case, every
    mark but underscores (and ``keep``: a sound id's ``.:-``) dropped."""
    drop = re.compile(r"[^\w" + re.escape(keep) + r"]+") if keep else _KEY
    key = drop.sub("", normalise(q).lstrip("#"))[:MAX_WORD_CHARS]
    if len(key) < MIN_QUERY_CHARS:
        raise QueryProblem(f"q must hold at least {MIN_QUERY_CHARS} letters or digits")
    return key


def _operand(word: str, *, tag: bool, prefix: bool) -> str:
    # Words hold letters and digits only, so quoting is belt and braces: a quote inside would be doubled.
    weight = "A" if tag else ""
    marks = ("*" if prefix else "") + weight
    return "'" + word.replace("'", "''") + "'" + (":" + marks if marks else "")


def tsquery_text(words: Sequence[Word], alternatives: Mapping[int, Sequence[str]] | None = None) -> str:
    """The query for ``to_tsquery('simple', ...)``: every word must match (AND); a word with ``alternatives``
    (typo corrections, by position) matches itself or any of them, exactly (a correction is a whole word)."""
    alternatives = alternatives or {}
    parts = []
    for i, w in enumerate(words):
        ops = [_operand(w.text, tag=w.tag, prefix=w.prefix)]
        ops += [_operand(a, tag=w.tag, prefix=False) for a in alternatives.get(i, ()) if a != w.text]
        parts.append(ops[0] if len(ops) == 1 else "(" + " | ".join(ops) + ")")
    return " & ".join(parts)
