"""The recommendation jobs' shell: settings in, plain values out to ``recommend/`` (which never reads
settings). The DAGs ``refresh_candidates``, ``train_models`` and ``flush_counters`` are a few lines over this.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters import live_store
from adapters.model_registry import ModelRegistry, version_id
from catalog.db import session_scope
from config.clients import origin_store, redis_client, sessions
from config.settings import Settings
from jobs import candidates, training
from recommend import blended_ranking
from recommend.sources import CandidateSource, VectorSource

log = logging.getLogger("jobs.recsys")


def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(origin_store(settings))


def flush_counters(settings: Settings) -> int:
    return live_store.flush_counters(redis_client(settings), live_store.Keys(settings.redis_prefix),
                               lambda: session_scope(sessions(settings)))


def current_models(settings: Settings) -> dict[str, str | None]:
    """The model versions a refresh run will use, pinned at its start (retries and re-runs reuse them)."""
    pointer = registry(settings).current(training.TWO_TOWER)
    return {training.TWO_TOWER: pointer.version if pointer else None}


def refresh_pools(settings: Settings, *, as_of: datetime, run_id: str, models: dict[str, str | None],
                  embedding_model: str, pool_size: int, window_days: float) -> dict:
    cfg = candidates.RefreshConfig(as_of=as_of, embedding_model=embedding_model, pool_size=pool_size,
                                window_days=window_days)

    built: list[VectorSource] = []

    def extra(snap: candidates.Snapshot) -> Sequence[CandidateSource]:
        version = models.get(training.TWO_TOWER)
        if not version or not training.two_tower_available():
            return []  # no trained model yet: its quota goes to the other sources
        path = registry(settings).fetch(training.TWO_TOWER, version, settings.home / "models")
        built.append(training.two_tower_source(path, sorted(snap.users), snap.history))
        return built[-1:]

    r, keys = redis_client(settings), live_store.Keys(settings.redis_prefix)
    stats = candidates.refresh(lambda: session_scope(sessions(settings)), r, keys, cfg, source=run_id, extra=extra)
    # The feed's trained ranker needs the same user vectors retrieval used: written after the pools.
    vectors = candidates.write_user_vectors(r, keys, built[-1], version=models[training.TWO_TOWER]) if built else 0
    result = {"users": stats.users, "pools": stats.pools, "mean_size": round(stats.mean_size, 1),
              "by_source": stats.by_source, "seconds": stats.seconds, "models": models, "user_vectors": vectors}
    log.info("refreshed candidate pools: %s", result)
    return result


def window(start: str | None, end: str | None, *, default_end: datetime, default_days: float = 14.0
           ) -> tuple[datetime, datetime]:
    """The training window from the DAG params (ISO dates or datetimes; empty = the last ``default_days``)."""
    end_t = _parse(end) if end else default_end
    start_t = _parse(start) if start else end_t - timedelta(days=default_days)
    if start_t >= end_t:
        raise ValueError(f"window start {start_t} is not before its end {end_t}")
    return start_t, end_t


def train_two_tower(settings: Settings, *, start: datetime, end: datetime, epochs: int) -> dict | None:
    """Train on the window, publish the version (deterministic name: same window, same version), switch
    the pointer. None when there is nothing to train on or the model code is not installed."""
    if not training.two_tower_available():
        return None
    with session_scope(sessions(settings)) as s:
        data = training.interactions_from_log(s, start, end)
    if data is None or not (data.weight > 0).any():
        return None
    version = version_id(end, {"start": start.isoformat(), "epochs": epochs, "model": training.TWO_TOWER})
    with tempfile.TemporaryDirectory(prefix="two-tower-") as tmp:
        report = training.train_two_tower(data, Path(tmp), epochs=epochs)
        pointer = registry(settings).publish(training.TWO_TOWER, Path(tmp), version, meta=report)
    return {"version": pointer.version, **report}


def train_ranker(settings: Settings, *, start: datetime, end: datetime, epochs: int, two_tower: str) -> dict | None:
    """Train the ranker on the window's impressions over the given two-tower version's vectors (its features
    depend on that version, recorded in the ranker's meta), publish and switch. None with no impressions."""
    reg = registry(settings)
    tt_dir = reg.fetch(training.TWO_TOWER, two_tower, settings.home / "models")
    with session_scope(sessions(settings)) as s:
        examples = training.ranker_examples(s, start, end, tt_dir)
    if examples is None:
        return None
    version = version_id(end, {"start": start.isoformat(), "epochs": epochs, "model": training.RANKER,
                               "two_tower": two_tower})
    with tempfile.TemporaryDirectory(prefix="ranker-") as tmp:
        report = training.train_ranker(examples, Path(tmp), epochs=epochs)
        blended_ranking.write_lineage(Path(tmp), two_tower)
        pointer = reg.publish(training.RANKER, Path(tmp), version, meta={**report, "two_tower": two_tower})
    return {"version": pointer.version, **report}


def _parse(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)
