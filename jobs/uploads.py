"""Uploads in parts (S3 multipart): the part plan, what a resume re-issues, completion against S3's own list
of parts, sealing the upload at ``complete``, and the sweep of abandoned uploads (the ``upload_lifecycle`` DAG).

The API keeps no per-part state: S3's ListParts is the record of what arrived. Each part URL is signed with
its exact length, so a part is either the declared length or absent; completion still checks every size,
because that is the guarantee the catalog's declared size rests on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.s3 import STORAGE_ERRORS, ObjectNotFound, OriginStore
from adapters.s3_multipart import MultipartStore, StoredPart, UploadNotFound, part_size_for, part_sizes
from catalog import videos as repo
from catalog.db import session_scope
from config.clients import multipart_store, origin_store, sessions
from config.settings import Settings

log = logging.getLogger("jobs.uploads")
ABANDONED = "upload_abandoned"


@dataclass(frozen=True)
class PartUrl:
    number: int
    size: int
    url: str


@dataclass(frozen=True)
class MultipartStart:
    upload_id: str
    part_size: int
    parts: list[PartUrl]


@dataclass(frozen=True)
class UploadProgress:
    part_count: int
    uploaded: list[StoredPart]  # stored with the expected length, one per number
    missing: list[PartUrl]  # absent (or of another length), each with a fresh URL


class PartsMissing(ValueError):
    def __init__(self, numbers: list[int], count: int) -> None:
        names = ", ".join(str(n) for n in numbers)
        super().__init__(f"part{'s' if len(numbers) > 1 else ''} {names} of {count} "
                         f"{'are' if len(numbers) > 1 else 'is'} not uploaded")
        self.numbers, self.count = numbers, count


class PartsMismatch(ValueError):
    def __init__(self, sizes: dict[int, tuple[int, int]]) -> None:
        super().__init__("; ".join(f"part {n} holds {got} bytes, not {want}"
                                   for n, (want, got) in sorted(sizes.items())))
        self.sizes = sizes


@dataclass(frozen=True)
class Sealed:
    key: str
    size: int
    etag: str


@dataclass
class AbandonReport:
    aborted: list[str] = field(default_factory=list)  # "key upload_id"
    failed_videos: list[str] = field(default_factory=list)
    kept: int = 0  # younger than the cut-off
    deleted: list[str] = field(default_factory=list)  # raw-bucket keys of the abandoned videos


def planned_sizes(size: int, part_size: int) -> dict[int, int]:
    """Part number (from 1) -> its length."""
    return dict(enumerate(part_sizes(size, part_size), start=1))


def presign_parts(mp: MultipartStore, bucket: str, key: str, upload_id: str, sizes: dict[int, int],
                  expires_s: int) -> list[PartUrl]:
    return [PartUrl(n, size, mp.presign_part(bucket, key, upload_id, n, size, expires_s))
            for n, size in sorted(sizes.items())]


def start_multipart(mp: MultipartStore, bucket: str, key: str, *, size: int, preferred_part_size: int,
                    expires_s: int) -> MultipartStart:
    """Create the S3 upload and sign a URL for every part."""
    part_size = part_size_for(size, preferred_part_size)
    upload_id = mp.create(bucket, key)
    return MultipartStart(upload_id, part_size,
                          presign_parts(mp, bucket, key, upload_id, planned_sizes(size, part_size), expires_s))


def _usable(stored: list[StoredPart], sizes: dict[int, int]) -> dict[int, StoredPart]:
    """One stored part per planned number, of the planned length. SeaweedFS lists a part uploaded twice
    twice; like S3, the latest upload counts (ties: the later listing)."""
    chosen: dict[int, StoredPart] = {}
    for part in stored:
        if sizes.get(part.number) != part.size:
            continue
        if part.number not in chosen or part.last_modified >= chosen[part.number].last_modified:
            chosen[part.number] = part
    return chosen


def progress(mp: MultipartStore, bucket: str, key: str, upload_id: str, *, size: int, part_size: int,
             expires_s: int) -> UploadProgress:
    """What is stored and fresh URLs for the rest (URLs expire; a resume needs new ones).
    Raises :class:`UploadNotFound` when the upload was completed or aborted."""
    sizes = planned_sizes(size, part_size)
    usable = _usable(mp.list_parts(bucket, key, upload_id), sizes)
    missing = {n: s for n, s in sizes.items() if n not in usable}
    return UploadProgress(len(sizes), [usable[n] for n in sorted(usable)],
                          presign_parts(mp, bucket, key, upload_id, missing, expires_s))


def complete_multipart(mp: MultipartStore, bucket: str, key: str, upload_id: str, *, size: int,
                       part_size: int) -> bool:
    """Join the stored parts into the object. True when joined now; False when the upload is gone (an earlier
    complete joined it and then failed to start processing, or it was aborted: the caller looks at the object).
    Raises :class:`PartsMissing` or :class:`PartsMismatch` and leaves the upload as it was."""
    sizes = planned_sizes(size, part_size)
    try:
        stored = mp.list_parts(bucket, key, upload_id)
    except UploadNotFound:
        return False
    usable = _usable(stored, sizes)
    if missing := [n for n in sizes if n not in usable and not any(p.number == n for p in stored)]:
        raise PartsMissing(missing, len(sizes))
    if len(usable) < len(sizes):  # stored, but not at the signed length: S3 should never have taken it
        raise PartsMismatch({n: (sizes[n], max(p.size for p in stored if p.number == n))
                             for n in sizes if n not in usable})
    try:
        mp.complete(bucket, key, upload_id, {n: p.etag for n, p in usable.items()})
    except UploadNotFound:
        return False
    return True


def seal(store: OriginStore, bucket: str, video_id: str) -> Sealed | None:
    """Copy the upload to the key no presigned URL names (server-side); what was sealed, or None when nothing
    was uploaded. The URL of a single PUT stays valid until it expires: a PUT through it after this lands at
    the upload key, which the pipeline never reads (``discard_upload`` removes it; ``upload_lifecycle`` removes
    a later one). Sizes and ETags are read back from the sealed copy, so checks apply to what the pipeline reads."""
    upload, sealed = repo.raw_key_for(video_id), repo.sealed_key_for(video_id)
    try:
        store.copy(bucket, upload, sealed)
    except ObjectNotFound:
        return None
    info = store.stat(bucket, sealed)
    if info is None:  # removed between the copy and the read: as if nothing was uploaded
        return None
    return Sealed(sealed, info.size, info.etag)


def discard_upload(store: OriginStore, bucket: str, video_id: str) -> bool:
    """Remove the upload key once the sealed copy is committed. Best effort: left behind (the store down),
    it is a stray that ``upload_lifecycle`` removes."""
    try:
        store.delete(bucket, repo.raw_key_for(video_id))
    except STORAGE_ERRORS as exc:
        log.warning("could not remove the upload of %s (upload_lifecycle will): %s", video_id, exc)
        return False
    return True


def abort_abandoned(settings: Settings, *, max_age_s: float | None = None,
                    now: datetime | None = None) -> AbandonReport:
    """Abort multipart uploads in the raw bucket started more than ``max_age_s`` ago (default
    ``upload_abandon_after_s``), and fail their videos with ``upload_abandoned`` when they still wait for
    that upload. Uploads with no video (a registration rolled back, ingest staging) are aborted too.
    Then every video still uploading that was registered before the cut-off (a single PUT never completed,
    or parts joined by a ``complete`` that never got through) fails the same way, and its objects (the upload,
    a sealed copy of a ``complete`` that rolled back) are removed."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=settings.upload_abandon_after_s if max_age_s is None else max_age_s)
    mp = multipart_store(settings)
    report = AbandonReport()
    for upload in mp.list_uploads(settings.raw_bucket):
        if upload.initiated > cutoff:
            report.kept += 1
            continue
        video_id = repo.video_id_for_raw_key(upload.key)
        # The row lock orders this against the API's complete: whichever commits first wins, never both.
        with session_scope(sessions(settings)) as s:
            video = repo.waiting_for_upload(s, video_id, upload.upload_id) if video_id else None
            if not mp.abort(settings.raw_bucket, upload.key, upload.upload_id):
                continue  # completed meanwhile: the parts are a file now, and the video may still be completed
            report.aborted.append(f"{upload.key} {upload.upload_id}")
            if video is not None:
                hours = (now - upload.initiated).total_seconds() / 3600
                repo.mark_failed(s, video.id, code=ABANDONED,
                                 reason=f"the upload started {hours:.0f} h ago and was never completed; upload again")
                report.failed_videos.append(video.id)
    store = origin_store(settings)
    with session_scope(sessions(settings)) as s:
        stale = repo.uploading_since(s, cutoff)
    for video_id in stale:
        # Locked and looked at again: a ``complete`` that got the lock first has moved the video on.
        with session_scope(sessions(settings)) as s:
            video = repo.get_video(s, video_id, for_update=True)
            if video.state != repo.VideoState.UPLOADING or video.deleted_at is not None:
                continue
            hours = (now - video.created_at).total_seconds() / 3600
            repo.mark_failed(s, video_id, code=ABANDONED,
                             reason=f"registered {hours:.0f} h ago and never completed; upload again")
            for key in (repo.raw_key_for(video_id), repo.sealed_key_for(video_id)):
                if store.stat_size(settings.raw_bucket, key) is not None:
                    store.delete(settings.raw_bucket, key)
                    report.deleted.append(key)
        report.failed_videos.append(video_id)
    if report.aborted or report.failed_videos:
        log.info("aborted %d abandoned uploads; failed videos %s; deleted %s", len(report.aborted),
                 report.failed_videos, report.deleted)
    return report
