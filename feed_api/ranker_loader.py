"""The trained ranker in the API process: which version serves, and loading new ones off the request path.

A background thread reads the registry's ``ranker`` pointer every ``check_s`` seconds. On a new version it
downloads the ranker and the two-tower version the ranker names (its ``lineage.json``, else the pointer's
meta), loads both (TensorFlow's import, ~5 s, happens here and only once a ranker is published), computes
the item vectors and swaps :attr:`ModelRanker.current` in one assignment: a page reads the reference once,
so it ranks with the old bundle or the new one, never a ranker with another version's vectors. A failed
load keeps the previous bundle serving and is retried only after ``retry_failed_s`` (a corrupt version
would otherwise be downloaded and parsed on every check). Not ``adapters.model_registry.CurrentModel``: its
``get()`` loads on the caller's thread, which here would be a request, and the bundle needs the pointer's
meta, which its loader does not see.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path

from adapters.model_registry import ModelRegistry, Pointer
from feed_api.metrics import Metrics
from recommend.blended_ranking import ModelBundle, read_lineage

log = logging.getLogger("feed_api.ranker_loader")
RANKER = "ranker"  # registry names, as jobs.recsys / jobs.training publish them
TWO_TOWER = "two_tower"


class ModelRanker:
    def __init__(self, registry: ModelRegistry, cache_dir: Path, metrics: Metrics, *, check_s: float = 60.0,
                 weight: float = 1.5, retry_failed_s: float = 600.0) -> None:
        self.registry, self.cache_dir, self.metrics = registry, cache_dir, metrics
        self.check_s, self.weight, self.retry_failed_s = check_s, weight, retry_failed_s
        self.current: ModelBundle | None = None
        self._failed: dict[str, float] = {}  # version -> monotonic time of its last failed load
        self._lock = threading.Lock()  # one load at a time (the thread, or a caller of refresh_once)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def version(self) -> str | None:
        bundle = self.current
        return bundle.ranker_version if bundle else None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="model-ranker", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Ask the thread to stop; a load in progress is not interrupted (daemon thread: it cannot keep the
        process alive), so shutdown waits at most ``timeout_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh_once()
            except Exception:  # the loop outlives S3 and registry hiccups; the old bundle keeps serving
                log.exception("checking the ranker pointer failed")
            self._stop.wait(self.check_s)

    def refresh_once(self) -> bool:
        """Check the pointer and load a new version if there is one; True when the served bundle changed."""
        with self._lock:
            pointer = self.registry.current(RANKER)
            if pointer is None or pointer.version == self.version:
                return False
            failed_at = self._failed.get(pointer.version)
            if failed_at is not None and time.monotonic() - failed_at < self.retry_failed_s:
                return False
            t0 = time.perf_counter()
            try:
                bundle = self._load(pointer)
            except Exception:
                self._failed[pointer.version] = time.monotonic()
                self.metrics.model_loads.labels("failed").inc()
                log.exception("ranker %s did not load; still serving %s", pointer.version, self.version)
                return False
            old, self.current = self.current, bundle  # the switch: one reference
            self._failed.pop(pointer.version, None)
            if old is not None:
                self.metrics.model.remove(old.ranker_version, old.two_tower_version)
            self.metrics.model_loads.labels("ok").inc()
            self.metrics.model.labels(bundle.ranker_version, bundle.two_tower_version).set(1)
            old_id = (old.ranker_version, old.two_tower_version) if old else None
            del old  # requests still holding it keep it alive; the collection below frees it otherwise
            _freeze_heap()
            log.info("serving ranker %s over two-tower %s (%d item vectors, %s), loaded in %.1f s; before: %s",
                     bundle.ranker_version, bundle.two_tower_version, len(bundle.item_vectors),
                     "TFLite" if bundle.lite else "tf.function", time.perf_counter() - t0, old_id)
            return True

    def _load(self, pointer: Pointer) -> ModelBundle:
        ranker_dir = self.registry.fetch(RANKER, pointer.version, self.cache_dir)
        two_tower = read_lineage(ranker_dir) or pointer.meta.get(TWO_TOWER)
        if not two_tower:
            raise ValueError(f"ranker {pointer.version} names no two-tower version (no lineage.json, no pointer meta)")
        tt_dir = self.registry.fetch(TWO_TOWER, two_tower, self.cache_dir)
        return ModelBundle.load(ranker_dir, pointer.version, tt_dir, two_tower)


def _freeze_heap() -> None:
    """Move every object alive now out of the cyclic GC's reach (``gc.freeze``). TensorFlow and a loaded
    bundle triple what a full collection walks (~145 k -> ~445 k objects, ~80 -> ~240 ms measured here), and a
    full collection stops the event loop. Unfrozen and collected first, so the previous bundle's reference
    cycles are freed: that collection (once per switch, on this thread) is the price."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
