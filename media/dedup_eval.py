"""Precision and recall of a dedup engine over a labelled corpus: plain counting, no media.

Each judged pair says what it is (the edit that made the query, the kind of pair: a copy, or which
hard negative), whether it truly is a duplicate and whether the engine said so. Grouping by edit or
by kind gives the quality table of `bench/dedup_quality.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Judged:
    edit: str  # the edit that made the query from its original ("original" for an unedited clip)
    kind: str  # "copy" for two clips of one original; otherwise the kind of hard negative
    duplicate: bool  # the truth: both clips come from one original
    found: bool  # the engine's answer


@dataclass(frozen=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def recall(self) -> float | None:
        """Share of true duplicates found; None when there are none to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def precision(self) -> float | None:
        """Share of the engine's duplicates that are true; None when it named none."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None


def confusion(pairs: Iterable[Judged]) -> Confusion:
    tp = fp = fn = tn = 0
    for p in pairs:
        if p.duplicate and p.found:
            tp += 1
        elif p.found:
            fp += 1
        elif p.duplicate:
            fn += 1
        else:
            tn += 1
    return Confusion(tp, fp, fn, tn)


def by(pairs: Iterable[Judged], key: Callable[[Judged], str]) -> dict[str, Confusion]:
    """One confusion per group, in the order groups first appear."""
    groups: dict[str, list[Judged]] = {}
    for p in pairs:
        groups.setdefault(key(p), []).append(p)
    return {k: confusion(v) for k, v in groups.items()}
