"""The S3 origin (MinIO in production, SeaweedFS locally), spoken to through the minio client."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error


@dataclass(frozen=True)
class OriginConfig:
    endpoint: str  # http(s)://host:port
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    content_type: str
    cache_control: str | None
    etag: str | None


# What the client raises when the store cannot be reached (refused, reset, timed out after its retries).
STORAGE_DOWN: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError,)
# Any failure of a request: the store down, or an error it answered.
STORAGE_ERRORS: tuple[type[Exception], ...] = (*STORAGE_DOWN, S3Error)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime


class ObjectNotFound(KeyError):
    pass


class OriginStore:
    def __init__(self, config: OriginConfig, *, max_pool: int = 16) -> None:
        parts = urlsplit(config.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"S3 endpoint must look like http://host:port, got {config.endpoint!r}")
        http = urllib3.PoolManager(maxsize=max_pool, timeout=urllib3.Timeout(connect=5, read=60),
                                   retries=urllib3.Retry(total=3, backoff_factor=0.2,
                                                         status_forcelist=(500, 502, 503, 504)))
        self.config = config
        self.client = Minio(parts.netloc, access_key=config.access_key, secret_key=config.secret_key,
                            secure=parts.scheme == "https", region=config.region, http_client=http)

    def ensure_buckets(self, *names: str) -> None:
        for name in names:
            if not self.client.bucket_exists(name):
                try:
                    self.client.make_bucket(name)
                except S3Error as exc:  # created meanwhile by another process
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def put_file(self, bucket: str, key: str, path: Path, *, content_type: str,
                 cache_control: str | None = None) -> None:
        headers = {"Cache-Control": cache_control} if cache_control else None
        self.client.fput_object(bucket, key, str(path), content_type=content_type, metadata=headers)

    def put_bytes(self, bucket: str, key: str, data: bytes, *, content_type: str,
                  cache_control: str | None = None) -> None:
        headers = {"Cache-Control": cache_control} if cache_control else None
        self.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type,
                               metadata=headers)

    def download(self, bucket: str, key: str, path: Path) -> int:
        try:
            self.client.fget_object(bucket, key, str(path))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(f"{bucket}/{key}") from exc
            raise
        return path.stat().st_size

    def stat_size(self, bucket: str, key: str) -> int | None:
        try:
            return self.client.stat_object(bucket, key).size
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return None
            raise

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's size, ETag and last change; None when it is not there."""
        try:
            o = self.client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return None
            raise
        return ObjectInfo(key, o.size or 0, (o.etag or "").strip('"'), o.last_modified or datetime.now(UTC))

    def get(self, bucket: str, key: str) -> StoredObject:
        try:
            resp = self.client.get_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(f"{bucket}/{key}") from exc
            raise
        try:
            body = resp.read()
            return StoredObject(body=body, content_type=resp.headers.get("Content-Type", "application/octet-stream"),
                                cache_control=resp.headers.get("Cache-Control"), etag=resp.headers.get("ETag"))
        finally:
            resp.close()
            resp.release_conn()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [o.object_name for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)]

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` with its size, ETag and last change; none when the bucket is missing."""
        now = datetime.now(UTC)
        try:
            # A listing without a date counts as written now: nothing is deleted for an age it may not have.
            return [ObjectInfo(o.object_name, o.size or 0, (o.etag or "").strip('"'), o.last_modified or now)
                    for o in self.client.list_objects(bucket, prefix=prefix, recursive=True)]
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return []
            raise

    def copy(self, bucket: str, src: str, dst: str) -> None:
        """Server-side copy within ``bucket`` (headers kept; sources over 5 GiB are copied in parts)."""
        from minio.commonconfig import ComposeSource

        try:
            self.client.compose_object(bucket, dst, [ComposeSource(bucket, src)])
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(f"{bucket}/{src}") from exc
            raise

    def delete(self, bucket: str, key: str) -> None:
        """Remove one object (no error when it is not there)."""
        self.client.remove_object(bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Remove every object under ``prefix``; how many. A bucket that does not exist holds nothing."""
        try:
            keys = self.list_keys(bucket, prefix)
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return 0
            raise
        for key in keys:
            self.client.remove_object(bucket, key)
        return len(keys)

    def move_prefix(self, src_bucket: str, dst_bucket: str, prefix: str) -> int:
        """Copy every object under ``prefix`` server-side (headers kept), then delete the sources; so each
        object is always readable from one bucket or the other. Objects moved."""
        from minio.commonconfig import CopySource

        keys = self.list_keys(src_bucket, prefix)
        for key in keys:
            self.client.copy_object(dst_bucket, key, CopySource(src_bucket, key))
        for key in keys:
            self.client.remove_object(src_bucket, key)
        return len(keys)
