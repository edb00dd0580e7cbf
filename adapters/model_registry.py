"""Model versions in the S3 object store, with an atomic switch for the serving side
(``feed_api.ranker_loader`` reads the pointer and swaps what it serves).

Layout in the ``models`` bucket (created when missing)::

    <name>/<version>/<files...>      a directory as a model's ``save`` wrote it (immutable once published)
    <name>/<version>/manifest.json   files with sizes and SHA-256, written after the files
    <name>/current.json              {"version", "published_at", "meta"}: written last, the switch

A reader goes through the pointer, so it sees either the old version or the new one, never a mix: S3
PUTs of one object are atomic and the version's files are complete before the pointer names them.
Generic over a directory of files, so any model with ``save(dir)`` / ``load(dir)`` fits.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.s3 import ObjectNotFound, OriginStore

MODELS_BUCKET = "models"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Pointer:
    name: str
    version: str
    published_at: str
    meta: dict


class ModelRegistry:
    def __init__(self, store: OriginStore, bucket: str = MODELS_BUCKET) -> None:
        self.store, self.bucket = store, bucket
        self._bucket_ready = False

    def _ensure(self) -> None:
        if not self._bucket_ready:
            self.store.ensure_buckets(self.bucket)
            self._bucket_ready = True

    def publish(self, name: str, directory: Path, version: str, *, meta: dict | None = None,
                make_current: bool = True) -> Pointer | None:
        """Upload ``directory`` as ``name/version``, then (by default) switch the pointer to it.

        Re-publishing the same version overwrites it with the same bytes (idempotent re-runs); the
        pointer is the last write, so a crash before it leaves the old version serving.
        """
        _check(name, version)
        self._ensure()
        files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
        if not files:
            raise ValueError(f"{directory} holds no files to publish as {name}/{version}")
        manifest = {"name": name, "version": version, "files": {}}
        for path in files:
            rel = path.relative_to(directory).as_posix()
            self.store.put_file(self.bucket, f"{name}/{version}/{rel}", path, content_type="application/octet-stream")
            manifest["files"][rel] = {"size": path.stat().st_size, "sha256": _sha256(path)}
        self.store.put_bytes(self.bucket, f"{name}/{version}/manifest.json", json.dumps(manifest).encode(),
                             content_type="application/json")
        return self.switch(name, version, meta=meta) if make_current else None

    def switch(self, name: str, version: str, *, meta: dict | None = None) -> Pointer:
        """Point ``name`` at an already published version (also how a bad model is rolled back)."""
        _check(name, version)
        self._ensure()
        if self.store.stat_size(self.bucket, f"{name}/{version}/manifest.json") is None:
            raise LookupError(f"model {name}/{version} is not published")
        pointer = Pointer(name, version, datetime.now(UTC).isoformat(), meta or {})
        self.store.put_bytes(self.bucket, f"{name}/current.json",
                             json.dumps({"version": version, "published_at": pointer.published_at,
                                         "meta": pointer.meta}).encode(),
                             content_type="application/json", cache_control="no-store")
        return pointer

    def current(self, name: str) -> Pointer | None:
        try:
            body = json.loads(self.store.get(self.bucket, f"{name}/current.json").body)
        except ObjectNotFound:
            return None
        return Pointer(name, body["version"], body.get("published_at", ""), body.get("meta") or {})

    def versions(self, name: str) -> list[str]:
        keys = self.store.list_keys(self.bucket, f"{name}/")
        return sorted({k.split("/")[1] for k in keys if k.endswith("/manifest.json") and k.count("/") == 2})

    def fetch(self, name: str, version: str, dest_root: Path) -> Path:
        """Download a version to ``dest_root/name/version`` (verified against its manifest; reused when a
        complete copy is already there) and return that directory."""
        _check(name, version)
        dest = Path(dest_root) / name / version
        if (dest / ".complete").exists():
            return dest
        manifest = json.loads(self.store.get(self.bucket, f"{name}/{version}/manifest.json").body)
        tmp = dest.with_name(f".{version}.{time.monotonic_ns()}")
        for rel, info in manifest["files"].items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self.store.download(self.bucket, f"{name}/{version}/{rel}", target)
            if _sha256(target) != info["sha256"]:
                shutil.rmtree(tmp, ignore_errors=True)
                raise ValueError(f"{name}/{version}/{rel} does not match its manifest")
        (tmp / ".complete").write_text(version)
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)  # a directory rename: other readers see all of it or none
        return dest


def version_id(window_end: datetime, params: dict) -> str:
    """A deterministic version name: the same training window and parameters give the same version."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{window_end.astimezone(UTC):%Y%m%dt%H%M%S}-{digest}"


def _check(name: str, version: str) -> None:
    for part in (name, version):
        if not _NAME.match(part):
            raise ValueError(f"model names and versions are [a-z0-9_.-], got {part!r}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
