"""Publish an HLS package to the origin: media first, playlists after, the master last.

A failed publication removes what it wrote. Prefixes are per publication, so that never touches
a package that is already being served.

A player that can read the master can therefore read everything it names. Segments live under an
immutable per-publication prefix and are cached for a year; playlists get a short TTL so a
re-publication (new prefix, master swapped in the catalog) is picked up quickly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from adapters.s3 import OriginStore

SEGMENT_CACHE_CONTROL = "public, max-age=31536000, immutable"
PLAYLIST_CACHE_CONTROL = "public, max-age=60"

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".vtt": "text/vtt",
}


@dataclass(frozen=True)
class PublishResult:
    prefix: str
    master_key: str
    objects: int
    bytes: int


def content_type_for(path: str | Path) -> str:
    return CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def cache_control_for(path: str | Path) -> str:
    return PLAYLIST_CACHE_CONTROL if Path(path).suffix.lower() == ".m3u8" else SEGMENT_CACHE_CONTROL


def publish_package(store: OriginStore, package_dir: Path, bucket: str, prefix: str, *, master: str = "master.m3u8",
                    workers: int = 8, on_object: Callable[[str], None] | None = None) -> PublishResult:
    package_dir = Path(package_dir)
    prefix = prefix.strip("/")
    files = sorted(p for p in package_dir.rglob("*") if p.is_file())
    master_path = package_dir / master
    if master_path not in files:
        raise FileNotFoundError(f"{master_path} is missing; refusing to publish a package without its master")
    media = [p for p in files if p.suffix != ".m3u8"]
    playlists = [p for p in files if p.suffix == ".m3u8" and p != master_path]

    def put(path: Path) -> int:
        key = f"{prefix}/{path.relative_to(package_dir).as_posix()}"
        store.put_file(bucket, key, path, content_type=content_type_for(path), cache_control=cache_control_for(path))
        if on_object:
            on_object(key)
        return path.stat().st_size

    total = 0
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for wave in (media, playlists):  # each wave completes before the next starts
                total += sum(pool.map(put, wave))
        total += put(master_path)
    except BaseException:
        # Leave nothing half-published: remove what this call wrote (best effort; the origin may be down).
        with contextlib.suppress(Exception):
            store.delete_prefix(bucket, f"{prefix}/")
        raise
    return PublishResult(prefix=prefix, master_key=f"{prefix}/{master}", objects=len(files), bytes=total)
