"""Adapter from the blocking S3 origin client to a tier's async upstream."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from adapters.s3 import ObjectNotFound, OriginStore
from cdn_sim.tier import CachedObject, Fetch, NotFound

log = logging.getLogger("reelflow.edge")


def origin_fetcher(store: OriginStore, cold: dict[str, str] | None = None,
                   cold_servable: Callable[[str], bool] | None = None) -> Fetch:
    """``"<bucket>/<key>"`` -> the object, read in a worker thread so the event loop keeps serving.

    ``cold`` maps a bucket to its cold bucket (storage tiering): a key missing from the hot bucket is read
    from the cold one (a slower origin: a second lookup), and its publication ``v/<video>/<pub>/`` is moved
    back to the hot bucket in the background, once, so the next requests are hot again. ``cold_servable``
    (video id -> bool, e.g. :class:`adapters.catalog_check.CatalogCheck`) is asked before a cold object is
    served or restored, and again after a restore: a deleted video's cold copy never comes back.
    """
    cold = cold or {}
    restoring: set[str] = set()
    lock = threading.Lock()
    stats = {"cold_reads": 0, "restores": 0, "cold_refused": 0}

    def restore(src: str, dst: str, prefix: str) -> None:
        try:
            stats["restores"] += store.move_prefix(src, dst, prefix) > 0
            if cold_servable is not None and not cold_servable(prefix.split("/")[1]):
                # Deleted while it was being moved: take back what this restore wrote.
                store.delete_prefix(dst, prefix)
        except Exception:  # the cold copy still serves; the next cold read tries again
            log.exception("restoring %s/%s failed", dst, prefix)
        finally:
            with lock:
                restoring.discard(f"{dst}/{prefix}")

    def read(path: str) -> CachedObject:
        bucket, _, key = path.partition("/")
        try:
            obj = store.get(bucket, key)
        except ObjectNotFound as exc:
            if bucket not in cold:
                raise NotFound(path) from exc
            parts = key.split("/")
            video = parts[1] if len(parts) > 3 and parts[0] == "v" else None
            if cold_servable is not None and (video is None or not cold_servable(video)):
                stats["cold_refused"] += 1
                raise NotFound(path) from exc  # deleted (or not a video's object): as if it were not there
            try:
                obj = store.get(cold[bucket], key)
            except ObjectNotFound as cold_exc:
                raise NotFound(path) from cold_exc
            stats["cold_reads"] += 1
            if video is not None:
                prefix = "/".join(parts[:3]) + "/"
                with lock:
                    start = f"{bucket}/{prefix}" not in restoring
                    restoring.add(f"{bucket}/{prefix}")
                if start:
                    threading.Thread(target=restore, args=(cold[bucket], bucket, prefix), daemon=True).start()
        return CachedObject(obj.body, obj.content_type, obj.cache_control, obj.etag)

    async def fetch(path: str) -> CachedObject:
        return await asyncio.to_thread(read, path)

    fetch.tier_stats = stats  # type: ignore[attr-defined]  # cold reads and restores, for tests and logs
    return fetch
