"""Page assembly after ranking: diversity rules and exploration, as a pure function over candidates.

Rules for one page: never the same creator twice in a row; at most ``max_per_sound`` videos per sound and
``max_per_category`` per category; about ``explore_share`` of the slots go to candidates from beyond the
head of the ranking (chosen with a seeded generator, so a page is reproducible). When the rules cannot
fill the page, they are relaxed in order (caps, then the creator rule), because an empty or short page
is worse than a repetitive one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recommend.light_ranker import Candidate


@dataclass(frozen=True)
class Rules:
    max_per_sound: int = 2
    max_per_category: int = 3
    explore_share: float = 0.2
    head_factor: int = 2  # exploration draws from ranks >= head_factor * page size


def assemble(cands: Sequence[Candidate], scores: np.ndarray, page_size: int, *, seed: int = 0,
             rules: Rules = Rules()) -> list[int]:
    """Indices into ``cands`` for one page, in display order."""
    if page_size <= 0 or not cands:
        return []
    ranked = [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")]
    rng = random.Random(seed)  # cheap to seed per page, unlike numpy's generators
    n_explore = int(round(page_size * rules.explore_share))
    tail = ranked[rules.head_factor * page_size:]
    explore: list[int] = []
    explore_slots: set[int] = set()
    if n_explore and tail:
        explore = rng.sample(tail, min(n_explore, len(tail)))
        if page_size > 1:  # never the first slot: the page opens with the best candidate
            explore_slots = set(rng.sample(range(1, page_size), min(len(explore), page_size - 1)))
    exploring = set(explore)
    main = [i for i in ranked if i not in exploring]

    page: list[int] = []
    sounds: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    used: set[int] = set()

    def fits(i: int, level: int) -> bool:
        c = cands[i]
        if level < 2 and page and c.creator_id and cands[page[-1]].creator_id == c.creator_id:
            return False
        if level < 1:
            if c.sound_id and sounds[c.sound_id] >= rules.max_per_sound:
                return False
            if c.category and categories[c.category] >= rules.max_per_category:
                return False
        return True

    def take(i: int) -> None:
        page.append(i)
        used.add(i)
        if cands[i].sound_id:
            sounds[cands[i].sound_id] += 1
        if cands[i].category:
            categories[cands[i].category] += 1

    queue_explore = list(explore)
    while len(page) < min(page_size, len(cands)):
        slot = len(page)
        picked = None
        sources = ([queue_explore, main] if slot in explore_slots else [main, queue_explore])
        for level in range(3):
            for source in sources:
                picked = next((i for i in source if i not in used and fits(i, level)), None)
                if picked is not None:
                    break
            if picked is not None:
                break
        if picked is None:
            break
        take(picked)
        for source in (queue_explore, main):
            if picked in source:
                source.remove(picked)
    return spread_creators(page, [cands[i].creator_id for i in page])


def _feasible(counts: Counter[str], n: int, last: str | None) -> bool:
    """Whether ``n`` items with these creator counts can follow ``last`` with no creator twice in a row."""
    return all(k <= (n // 2 if c == last else (n + 1) // 2) for c, k in counts.items())


def _top2(counts: Counter[str]) -> list[tuple[str, int]]:
    """``counts.most_common(2)`` without its heap (this runs for every slot of every page)."""
    first: tuple[str, int] | None = None
    second: tuple[str, int] | None = None
    for item in counts.items():
        if first is None or item[1] > first[1]:
            first, second = item, first
        elif second is None or item[1] > second[1]:
            second = item
    return [t for t in (first, second) if t is not None]


def spread_creators(page: list[int], creators: Sequence[str | None]) -> list[int]:
    """The page reordered so no creator appears twice in a row whenever some order allows it, keeping the
    given order (the ranking) as far as that goes. The greedy assembly can paint itself into a corner: when
    the last candidates left are one creator's, its relaxed rule puts them side by side although an
    interleaving of the chosen items existed."""
    remaining = list(range(len(page)))
    counts = Counter(c for c in creators if c)
    out: list[int] = []
    last: str | None = None
    while remaining:
        n = len(remaining) - 1
        # _feasible(counts less the candidate's one, n, candidate's creator), without copying the counts per
        # candidate: only the two largest counts matter for "every other creator fits in (n + 1) // 2".
        top = _top2(counts)
        choice = None
        for pos in remaining:  # the best-placed item that keeps the rest arrangeable
            c = creators[pos]
            if c and c == last:
                continue
            others = next((k for name, k in top if name != c), 0) if c else (top[0][1] if top else 0)
            if others <= (n + 1) // 2 and (not c or counts[c] - 1 <= n // 2):
                choice = pos
                break
        if choice is None:  # no order avoids a repeat: keep the given one
            choice = next((p for p in remaining if not creators[p] or creators[p] != last), remaining[0])
        remaining.remove(choice)
        out.append(page[choice])
        last = creators[choice]
        if last:
            counts[last] -= 1
    return out
