"""Adapter from the blocking S3 origin client to a tier's async upstream."""

from __future__ import annotations

import asyncio

from cdn_sim.tier import CachedObject, Fetch, NotFound
from delivery.origin import ObjectNotFound, OriginStore


def origin_fetcher(store: OriginStore) -> Fetch:
    """``"<bucket>/<key>"`` -> the object, read in a worker thread so the event loop keeps serving."""

    def read(path: str) -> CachedObject:
        bucket, _, key = path.partition("/")
        try:
            obj = store.get(bucket, key)
        except ObjectNotFound as exc:
            raise NotFound(path) from exc
        return CachedObject(obj.body, obj.content_type, obj.cache_control, obj.etag)

    async def fetch(path: str) -> CachedObject:
        return await asyncio.to_thread(read, path)

    return fetch
