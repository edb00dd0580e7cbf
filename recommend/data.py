"""Interaction data for training and evaluation: arrays plus id<->index vocabularies, the MovieLens-100K
loader, a global time split, a per-user leave-last-N-out split, per-user histories and causal item
freshness features. Pure numpy, no I/O beyond reading one file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ML100K_FILE = "ml-100k.inter"
PAD = -1  # history slots with no item


@dataclass(frozen=True)
class Interactions:
    """One row per event. ``weight`` > 0 is a positive (completion/like strength), <= 0 an explicit negative
    (skip). Indices refer to ``user_ids`` / ``item_ids``; subsets keep the full vocabularies so that indices
    stay comparable between a train and a test split."""

    user_idx: np.ndarray  # int32 (n,)
    item_idx: np.ndarray  # int32 (n,)
    timestamp: np.ndarray  # float64 (n,) seconds
    weight: np.ndarray  # float32 (n,)
    user_ids: tuple[str, ...]
    item_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.user_idx)
        for name in ("item_idx", "timestamp", "weight"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Interactions.{name} has {len(getattr(self, name))} rows, user_idx has {n}")
        if n and (self.user_idx.min() < 0 or self.user_idx.max() >= len(self.user_ids)):
            raise ValueError("user_idx out of range of user_ids")
        if n and (self.item_idx.min() < 0 or self.item_idx.max() >= len(self.item_ids)):
            raise ValueError("item_idx out of range of item_ids")

    def __len__(self) -> int:
        return len(self.user_idx)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_ids(cls, user_ids: Sequence, item_ids: Sequence, timestamp: Sequence[float],
                 weight: Sequence[float] | None = None) -> Interactions:
        """Build the vocabularies (sorted, so deterministic) from raw ids."""
        users = np.asarray(user_ids).astype(str)
        items = np.asarray(item_ids).astype(str)
        uvocab, uidx = np.unique(users, return_inverse=True)
        ivocab, iidx = np.unique(items, return_inverse=True)
        ts = np.asarray(timestamp, dtype=np.float64)
        w = np.ones(len(users), np.float32) if weight is None else np.asarray(weight, dtype=np.float32)
        return cls(uidx.astype(np.int32), iidx.astype(np.int32), ts, w,
                   tuple(uvocab.tolist()), tuple(ivocab.tolist()))

    def subset(self, mask: np.ndarray) -> Interactions:
        return Interactions(self.user_idx[mask], self.item_idx[mask], self.timestamp[mask], self.weight[mask],
                            self.user_ids, self.item_ids)

    def positives(self) -> Interactions:
        return self.subset(self.weight > 0)

    def user_index(self, ids: Sequence[str]) -> np.ndarray:
        return _lookup(self.user_ids, ids, "user")

    def item_index(self, ids: Sequence[str]) -> np.ndarray:
        return _lookup(self.item_ids, ids, "item")


def _lookup(vocab: tuple[str, ...], ids: Sequence[str], what: str) -> np.ndarray:
    table = {v: i for i, v in enumerate(vocab)}
    out = np.empty(len(ids), np.int32)
    for k, x in enumerate(ids):
        i = table.get(str(x))
        if i is None:
            raise KeyError(f"unknown {what} id {x!r} (not in the training vocabulary)")
        out[k] = i
    return out


def find_movielens_100k() -> Path | None:
    """The data dir that ``./dev setup`` fills, then an installed recbole package, then $REELFLOW_ML100K."""
    candidates = []
    if env := os.environ.get("REELFLOW_ML100K"):
        candidates.append(Path(env))
    root = Path(__file__).resolve().parent.parent
    candidates.append(root / ".data" / "ml-100k" / ML100K_FILE)
    try:
        import importlib.util

        spec = importlib.util.find_spec("recbole")
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidates.append(Path(loc) / "dataset_example" / "ml-100k" / ML100K_FILE)
    except (ImportError, ValueError):
        pass
    return next((p for p in candidates if p.is_file()), None)


def load_movielens_100k(path: str | Path | None = None, *, min_rating: float = 0.0) -> Interactions:
    """MovieLens-100K as implicit feedback: every rating >= ``min_rating`` is a positive with weight 1
    (the usual protocol; the popularity baseline in docs/recommendations.md was measured that way)."""
    p = Path(path) if path is not None else find_movielens_100k()
    if p is None or not p.is_file():
        raise FileNotFoundError(
            f"MovieLens-100K ({ML100K_FILE}) not found{f' at {p}' if p else ''}; run `./dev setup`, which puts it "
            "in .data/ml-100k/ (from the recbole wheel), or set REELFLOW_ML100K to the file")
    raw = np.loadtxt(p, skiprows=1, delimiter="\t", dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] < 4:
        raise ValueError(f"{p}: expected user, item, rating, timestamp columns")
    keep = raw[:, 2] >= min_rating
    raw = raw[keep]
    return Interactions.from_ids(raw[:, 0].astype(np.int64), raw[:, 1].astype(np.int64), raw[:, 3])


def time_split(interactions: Interactions, test_fraction: float = 0.2) -> tuple[Interactions, Interactions]:
    """Global time split: everything before the cutoff trains, everything at or after it tests. No event in
    train is later than any event in test, so no future leaks into training."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(interactions) < 2:
        raise ValueError("need at least two interactions to split")
    cutoff = float(np.quantile(interactions.timestamp, 1.0 - test_fraction))
    train = interactions.timestamp < cutoff
    if not train.any():  # every timestamp equal: fall back to order of rows
        order = np.argsort(interactions.timestamp, kind="stable")
        train = np.zeros(len(interactions), bool)
        train[order[: int(len(order) * (1 - test_fraction))]] = True
    return interactions.subset(train), interactions.subset(~train)


def leave_last_out_split(interactions: Interactions, n: int = 1) -> tuple[Interactions, Interactions]:
    """Per-user split: each user's last ``n`` positives (time order, ties by row order) test, everything
    else trains; users with ``n`` positives or fewer keep them all in train. Measures personalisation (every
    user is evaluated at their own "now") but, unlike :func:`time_split`, train holds other users' later
    events, so it does not measure drift."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    m = len(interactions)
    order = np.lexsort((np.arange(m), interactions.timestamp, interactions.user_idx))
    u = interactions.user_idx[order]
    pos = interactions.weight[order] > 0
    # Rank of each positive counted from its user's last positive (0 = latest).
    pos_count = np.bincount(u[pos], minlength=interactions.n_users)
    cum = np.cumsum(pos) - 1  # index among all positives so far
    first_pos = np.r_[0, np.cumsum(pos_count)][u]  # global index of the user's first positive
    from_end = pos_count[u] - 1 - (cum - first_pos)
    test_sorted = pos & (from_end < n) & (pos_count[u] > n)
    test = np.zeros(m, bool)
    test[order] = test_sorted
    return interactions.subset(~test), interactions.subset(test)


def user_histories(interactions: Interactions, n: int, *, as_of: float | None = None,
                   positives_only: bool = True) -> np.ndarray:
    """(n_users, n) int32: each user's last ``n`` items (most recent last) before ``as_of``, PAD-filled on
    the left. Users with no events get a row of PAD."""
    if n <= 0:
        raise ValueError("history length must be positive")
    mask = np.ones(len(interactions), bool)
    if positives_only:
        mask &= interactions.weight > 0
    if as_of is not None:
        mask &= interactions.timestamp < as_of
    u, it, ts = interactions.user_idx[mask], interactions.item_idx[mask], interactions.timestamp[mask]
    out = np.full((interactions.n_users, n), PAD, np.int32)
    if not len(u):
        return out
    order = np.lexsort((ts, u))
    u, it = u[order], it[order]
    # Position of each event counted from the end of its user's sequence (0 = latest).
    counts = np.bincount(u, minlength=interactions.n_users)
    ends = np.cumsum(counts)
    from_end = ends[u] - 1 - np.arange(len(u))
    keep = from_end < n
    out[u[keep], n - 1 - from_end[keep]] = it[keep]
    return out


def example_histories(interactions: Interactions, n: int) -> np.ndarray:
    """(len(interactions), n) int32: for every row, the same user's last ``n`` positive items strictly
    before that row in time order (ties broken by row order), so a training example never sees its own
    target in its history. Rows keep their original order."""
    m = len(interactions)
    out = np.full((m, n), PAD, np.int32)
    if not m:
        return out
    order = np.lexsort((np.arange(m), interactions.timestamp, interactions.user_idx))
    u = interactions.user_idx[order]
    it = np.where(interactions.weight[order] > 0, interactions.item_idx[order], PAD)
    starts = np.r_[0, np.flatnonzero(np.diff(u)) + 1]
    seg_start = np.repeat(starts, np.diff(np.r_[starts, m]))
    pos = np.arange(m)
    hist = np.full((m, n), PAD, np.int32)
    # Walk back over the last n rows of the same user; negatives show as PAD (skips are not history).
    for k in range(1, n + 1):
        src = pos - k
        ok = src >= seg_start
        hist[ok, n - k] = it[src[ok]]
    out[order] = hist
    return out


def seen_items(interactions: Interactions) -> list[set[int]]:
    sets: list[set[int]] = [set() for _ in range(interactions.n_users)]
    for u, i in zip(interactions.user_idx.tolist(), interactions.item_idx.tolist(), strict=True):
        sets[u].add(i)
    return sets


# -- freshness: how popular an item is right now, computed without looking ahead ---------------------------

FRESHNESS_WINDOWS = (1, 7, 30)  # buckets (days by default) of recent-positive counts


def n_freshness_features(windows: Sequence[int] = FRESHNESS_WINDOWS) -> int:
    """Windowed counts, the all-time count, and the age since the item's first positive."""
    return len(windows) + 2


def time_bucket(t: np.ndarray | float, bucket_s: float) -> np.ndarray:
    return np.floor(np.asarray(t, np.float64) / bucket_s).astype(np.int64)


def freshness_table(interactions: Interactions, *, bucket_s: float = 86400.0,
                    windows: Sequence[int] = FRESHNESS_WINDOWS) -> tuple[np.ndarray, int]:
    """(D + 1, n_items, k) float32 features for every time bucket d0 .. d0 + D of the data and every item,
    and d0. Row r describes the item as of the start of bucket d0 + r, from positives in earlier buckets
    only: log1p of the positive count in each of the last ``windows`` buckets, log1p of the all-time count,
    log1p of the buckets since the item's first positive (0 if none yet). The last row is "as of the end of
    the data" (the start of the bucket after its last event). An event in bucket d trains against row d - d0,
    so it never sees itself, its own bucket or anything later."""
    pos = interactions.weight > 0
    n_items = interactions.n_items
    b = time_bucket(interactions.timestamp[pos], bucket_s)
    if not len(b):
        raise ValueError("freshness features need at least one positive")
    d0 = int(b.min())
    span = int(b.max()) - d0 + 1
    counts = np.bincount((b - d0) * n_items + interactions.item_idx[pos], minlength=span * n_items)
    cum = np.vstack([np.zeros((1, n_items)), np.cumsum(counts.reshape(span, n_items), axis=0)])  # (D+1, n)
    rows = np.arange(span + 1)
    feats = [np.log1p(cum - cum[np.maximum(rows - w, 0)]) for w in windows]
    feats.append(np.log1p(cum))
    first = np.full(n_items, np.inf)
    np.minimum.at(first, interactions.item_idx[pos], (b - d0).astype(np.float64))
    age = rows[:, None] - first[None, :]
    feats.append(np.log1p(np.where(age > 0, age, 0.0)))
    return np.stack(feats, axis=-1).astype(np.float32), d0


def item_freshness(interactions: Interactions, as_of: float, *, bucket_s: float = 86400.0,
                   windows: Sequence[int] = FRESHNESS_WINDOWS) -> np.ndarray:
    """(n_items, k) float32: the :func:`freshness_table` row for the bucket that contains ``as_of``, i.e.
    from positives in buckets strictly before it (events at or after ``as_of`` never count)."""
    pos = interactions.weight > 0
    d = int(time_bucket(as_of, bucket_s))
    b = time_bucket(interactions.timestamp[pos], bucket_s)
    keep = b < d
    b, items = b[keep], interactions.item_idx[pos][keep]
    n = interactions.n_items
    feats = [np.log1p(np.bincount(items[b >= d - w], minlength=n)) for w in windows]
    feats.append(np.log1p(np.bincount(items, minlength=n)))
    first = np.full(n, np.inf)
    np.minimum.at(first, items, b.astype(np.float64))
    age = d - first
    feats.append(np.log1p(np.where(age > 0, age, 0.0)))
    return np.stack(feats, axis=-1).astype(np.float32)
