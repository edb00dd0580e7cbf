"""S3 multipart uploads through boto3: create, presign each part with its exact length, list, complete, abort.

The minio client (``adapters/s3.py``) cannot presign ``UploadPart`` nor sign a Content-Length into a URL;
botocore can. A presigned URL carries ``X-Amz-SignedHeaders=content-length;host``, so S3 refuses a body of
any other length (``SignatureDoesNotMatch``) before storing a byte. The S3 rules on part sizes live here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError

from adapters.s3 import OriginConfig

MIN_PART_BYTES = 5 * 2**20  # every part but the last (S3 answers EntityTooSmall at completion otherwise)
MAX_PART_BYTES = 5 * 2**30
MAX_PARTS = 10_000
PART_ROUNDING = 2**20
NO_SUCH_UPLOAD = ("NoSuchUpload", "NoSuchKey")
# What botocore raises when the store cannot be reached (endpoint refused, connection closed, timeouts).
MULTIPART_DOWN: tuple[type[Exception], ...] = (HTTPClientError,)


class UploadNotFound(LookupError):
    """The multipart upload does not exist: never created, completed, or aborted."""


@dataclass(frozen=True)
class StoredPart:
    number: int
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime


def part_size_for(total: int, preferred: int) -> int:
    """``preferred`` (clamped to S3's bounds), grown in whole MiB when ``total`` would need over 10,000 parts."""
    size = min(max(preferred, MIN_PART_BYTES), MAX_PART_BYTES)
    if total > size * MAX_PARTS:
        needed = -(-total // MAX_PARTS)
        size = -(-needed // PART_ROUNDING) * PART_ROUNDING
    return size


def part_sizes(total: int, part_size: int) -> list[int]:
    """The length of each part, in order: full parts, then the remainder (at least one part, even for 0 bytes)."""
    if total < 0 or part_size <= 0:
        raise ValueError(f"cannot split {total} bytes into parts of {part_size}")
    full, rest = divmod(total, part_size)
    return [part_size] * full + ([rest] if rest or not full else [])


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


class MultipartStore:
    def __init__(self, config: OriginConfig, *, max_pool: int = 16) -> None:
        self.config = config
        # Path-style addressing: the local SeaweedFS (and most MinIO set-ups) have no per-bucket host names.
        self.client: Any = boto3.client(
            "s3", endpoint_url=config.endpoint, aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key, region_name=config.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=max_pool,
                          connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}))

    def create(self, bucket: str, key: str, *, content_type: str = "application/octet-stream") -> str:
        """Start a multipart upload; its upload id."""
        return self.client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]

    def presign_part(self, bucket: str, key: str, upload_id: str, number: int, size: int, expires_s: int) -> str:
        """A PUT URL for part ``number`` that S3 accepts only with a body of exactly ``size`` bytes."""
        return self.client.generate_presigned_url(
            "upload_part", ExpiresIn=expires_s,
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number, "ContentLength": size})

    def presign_put(self, bucket: str, key: str, size: int, expires_s: int) -> str:
        """A single-PUT URL that S3 accepts only with a body of exactly ``size`` bytes."""
        return self.client.generate_presigned_url(
            "put_object", ExpiresIn=expires_s, Params={"Bucket": bucket, "Key": key, "ContentLength": size})

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[StoredPart]:
        """Every stored part, all pages. SeaweedFS lists a part uploaded twice twice (S3 keeps the last
        one), so callers must pick among entries of one number."""
        parts: list[StoredPart] = []
        marker = 0
        while True:
            try:
                page = self.client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in NO_SUCH_UPLOAD:
                    raise UploadNotFound(f"{bucket}/{key} upload {upload_id}") from exc
                raise
            parts += [StoredPart(p["PartNumber"], p["Size"], p["ETag"], _utc(p["LastModified"]))
                      for p in page.get("Parts", [])]
            next_marker = int(page.get("NextPartNumberMarker") or 0)
            if not page.get("IsTruncated") or next_marker <= marker:
                return parts
            marker = next_marker

    def complete(self, bucket: str, key: str, upload_id: str, etags: dict[int, str]) -> None:
        """Join the parts named by number -> ETag into the object."""
        try:
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NO_SUCH_UPLOAD:
                raise UploadNotFound(f"{bucket}/{key} upload {upload_id}") from exc
            raise

    def abort(self, bucket: str, key: str, upload_id: str) -> bool:
        """Abort the upload and drop its parts; False when it no longer existed (completed or aborted)."""
        try:
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NO_SUCH_UPLOAD:
                return False
            raise
        return True

    def list_uploads(self, bucket: str, prefix: str = "") -> list[PendingUpload]:
        """Multipart uploads started and neither completed nor aborted, all pages."""
        found: list[PendingUpload] = []
        markers: dict[str, str] = {}
        while True:
            page = self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix, **markers)
            found += [PendingUpload(u["Key"], u["UploadId"], _utc(u["Initiated"])) for u in page.get("Uploads", [])]
            if not page.get("IsTruncated"):
                return found
            nxt = {"KeyMarker": page.get("NextKeyMarker") or "", "UploadIdMarker": page.get("NextUploadIdMarker") or ""}
            if nxt == markers or not nxt["KeyMarker"]:
                return found
            markers = nxt
