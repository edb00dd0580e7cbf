"""Publish an HLS package to the origin: media first, playlists after, the master last.

A failed publication removes what it wrote. Prefixes are per publication, so that never touches
a package that is already being served.

A player that can read the master can therefore read everything it names. Segments live under an
immutable per-publication prefix and are cached for a year; playlists get a short TTL so a
re-publication (new prefix, master swapped in the catalog) is picked up quickly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
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
    ".m4a": "audio/mp4",  # a sound's clip
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


def _under(path: str, dirs: Collection[str]) -> bool:
    return any(path == d or path.startswith(f"{d}/") for d in dirs)


def publish_package(store: OriginStore, package_dir: Path, bucket: str, prefix: str, *, master: str = "master.m3u8",
                    workers: int = 8, on_object: Callable[[str], None] | None = None,
                    only: Collection[str] | None = None, skip: Collection[str] = ()) -> PublishResult:
    """Upload the package (``only`` these files or directories of it, if given, less those in ``skip``),
    ``master`` last. ``skip`` is for what an earlier publication under the same prefix already uploaded:
    the full ladder after the playable one adds its new renditions and master, and rewrites nothing a
    player of the first master may be reading."""
    package_dir = Path(package_dir)
    prefix = prefix.strip("/")
    master_path = package_dir / master
    files = sorted(p for p in package_dir.rglob("*") if p.is_file()
                   if p == master_path or ((only is None or _under(p.relative_to(package_dir).as_posix(), only))
                                           and not _under(p.relative_to(package_dir).as_posix(), skip)))
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
        # Leave nothing half-published: remove what this call wrote (best effort; the origin may be down), and
        # only that: an earlier publication under the same prefix (the playable one) keeps serving.
        with contextlib.suppress(Exception):
            for path in files:
                store.delete(bucket, f"{prefix}/{path.relative_to(package_dir).as_posix()}")
        raise
    return PublishResult(prefix=prefix, master_key=f"{prefix}/{master}", objects=len(files), bytes=total)
