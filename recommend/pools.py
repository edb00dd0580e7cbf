"""Merging candidate sources into one pool per user, with quotas and filters: a pure function over lists.

The pool is what the feed API's For You reads (``pool:{user}``, a ZSET, higher score first). The merger
interleaves sources in proportion to their quotas, so the head of the pool — the part the feed reads per
page — already mixes sources instead of showing one source's whole list first. A source that has fewer
candidates than its quota (no two-tower model yet, a user who follows nobody) gives its slots to the
others, so pools stay full.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Scored = list[tuple[str, float]]

# Slots per source in a pool of 400 (README: Recommendations). Exploration keeps other topics present.
# Order matters where sources overlap: a video two sources propose counts for the earlier one, so the explicit
# signal (following) claims first.
DEFAULT_QUOTAS: dict[str, int] = {"following": 50, "two_tower": 120, "similar": 110, "trending": 70, "explore": 50}
DEFAULT_SIZE = 400


@dataclass(frozen=True)
class Filters:
    """What one user must not get: seen videos, creators blocked either way or hidden, hidden tags."""

    seen: frozenset[str] = frozenset()
    blocked_creators: frozenset[str] = frozenset()
    hidden_creators: frozenset[str] = frozenset()
    hidden_tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class VideoMeta:
    creator_id: str | None
    tags: tuple[str, ...] = ()


@dataclass
class MergeResult:
    pool: Scored
    by_source: dict[str, int] = field(default_factory=dict)  # how many slots each source filled


def allowed(video_id: str, meta: Mapping[str, VideoMeta], filters: Filters) -> bool:
    """Servable (present in ``meta``: ready, public, not deleted) and not filtered for this user."""
    m = meta.get(video_id)
    if m is None or video_id in filters.seen:
        return False
    c = m.creator_id
    if c is not None and (c in filters.blocked_creators or c in filters.hidden_creators):
        return False
    return not (filters.hidden_tags and any(t in filters.hidden_tags for t in m.tags))


def merge(sources: Mapping[str, Sequence[tuple[str, float]]], quotas: Mapping[str, int], *,
          keep: Callable[[str], bool], size: int = DEFAULT_SIZE) -> MergeResult:
    """One pool of at most ``size`` distinct videos, best first, with scores in (0, 1].

    Each source is read best first and filtered with ``keep``. Quotas are scaled to ``size`` (or to the
    number of distinct candidates, when fewer) when they add up to more. Pass 1 gives every source up to
    its quota (a video two sources propose counts for the first source, in ``quotas`` order). Pass 2 hands
    unused slots to sources that have more, in quota order. The pool is ordered by each video's relative
    rank within its own source's take (rank / take), which interleaves sources in proportion to their quotas.
    """
    verdict: dict[str, bool] = {}

    def ok(vid: str) -> bool:
        if vid not in verdict:
            verdict[vid] = keep(vid)
        return verdict[vid]

    lists = {name: [vid for vid, _ in sorted(sources.get(name, ()), key=lambda t: (-t[1], t[0])) if ok(vid)]
             for name in quotas}
    # A small catalog has fewer candidates than slots: scale the quotas to what exists, or the first
    # sources in quota order would claim everything and exploration would get nothing.
    size = min(size, len({vid for vids in lists.values() for vid in vids}))
    taken: dict[str, list[str]] = {name: [] for name in quotas}
    used: set[str] = set()
    cursor = dict.fromkeys(quotas, 0)

    def fill(name: str, want: int) -> None:
        items, i = lists[name], cursor[name]
        while want > 0 and i < len(items) and len(used) < size:
            vid = items[i]
            i += 1
            if vid in used:
                continue
            used.add(vid)
            taken[name].append(vid)
            want -= 1
        cursor[name] = i

    for name, quota in scale_quotas(quotas, size).items():
        fill(name, quota)
    for name in quotas:  # leftover slots, to whoever still has candidates
        if len(used) >= size:
            break
        fill(name, size - len(used))

    order = sorted(((r + 0.5) / len(vids), list(quotas).index(name), r, vid)
                   for name, vids in taken.items() for r, vid in enumerate(vids))
    n = len(order)
    if not n:
        return MergeResult([], {})
    pool = [(vid, round((n - pos) / n, 6)) for pos, (*_, vid) in enumerate(order)]
    return MergeResult(pool, {name: len(v) for name, v in taken.items() if v})


def scale_quotas(quotas: Mapping[str, int], size: int) -> dict[str, int]:
    """Quotas in proportion, summing to at most ``size`` (largest remainders get the spare slots)."""
    total = sum(max(q, 0) for q in quotas.values())
    if total <= size:
        return {k: max(q, 0) for k, q in quotas.items()}
    exact = {k: max(q, 0) * size / total for k, q in quotas.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: out[k] - exact[k])[: size - sum(out.values())]:
        out[k] += 1
    return out
