"""Upload, video status, delete and creator analytics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query
from sqlalchemy.orm import Session

from adapters.airflow_api import PipelineUnavailable
from adapters.s3_multipart import StoredPart, UploadNotFound
from catalog import events, social, sounds
from catalog import users as users_repo
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import SERVABLE_STATES, Moderation, Privacy, Video
from feed_api.activity import live_deltas
from feed_api.cards import drop_cards
from feed_api.deps import MaybeUser, Svc, User
from feed_api.errors import ApiError, FieldProblem
from feed_api.schemas import (
    AnalyticsOut,
    Author,
    CreatedVideo,
    CreateVideo,
    EditVideo,
    Failure,
    HourOut,
    ModerationOut,
    MultipartTarget,
    PartTarget,
    RenditionOut,
    Stats,
    StoredPartOut,
    StudioVideos,
    UploadTarget,
    VideoOut,
)
from feed_api.services import Services
from jobs import purge, uploads

router = APIRouter(prefix="/v1/videos", tags=["videos"])
studio_router = APIRouter(prefix="/v1/me", tags=["me"])
VideoId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="video id")]
# What the handlers raise; auth, rate-limit, validation and conflict answers are added by feed_api.openapi.
VISIBLE_ERRORS = {404: {"description": "no such video, or not one you may see"}}
OWNER_ERRORS = {403: {"description": "not your video"}, 404: {"description": "no such video, or deleted"}}
CREATE_ERRORS = {401: {"description": "no or bad token, or its user does not exist"},
                 422: {"description": "invalid body, or sound_id names no sound you may use (sound_not_found), "
                                      "one its creator keeps to its video (sound_not_reusable), or one of your "
                                      "videos that is deleted or removed (sound_unavailable)"},
                 413: {"description": "the declared size is over the upload limit (too_large); nothing was stored. "
                                      "Or the request body itself is over the API's limit (payload_too_large)"}}
RESUME_ERRORS = {**OWNER_ERRORS, 409: {"description": "not uploading, or its multipart upload was aborted"}}
COMPLETE_ERRORS = {**OWNER_ERRORS, 409: {"description": "not uploading, nothing uploaded yet, parts missing, or "
                                                        "not the declared size"},
                   413: {"description": "the file is over the upload limit"},
                   503: {"description": "processing could not be started, or overloaded; retry later"}}


def _out(video: Video, svc: Services, handle: str | None = None, deltas: dict | None = None, *,
         own: bool = True) -> VideoOut:
    ready = video.state in SERVABLE_STATES and video.master_key and video.deleted_at is None
    d = deltas or {}

    def url(key: str) -> str:  # the edge refuses a non-public video's objects without a token
        return svc.playback_url(key, signed=video.privacy != Privacy.PUBLIC)

    return VideoOut(
        id=video.id, state="deleted" if video.deleted_at else video.state, caption=video.caption,
        hashtags=list(video.hashtags or []), privacy=video.privacy, sound_id=video.sound_id, category=video.category,
        author=Author(id=video.creator_id, handle=handle) if video.creator_id else None,
        stats=Stats(views=video.view_count + int(d.get("views", 0)), likes=video.like_count + int(d.get("likes", 0)),
                    comments=video.comment_count + int(d.get("comments", 0)),
                    shares=video.share_count + int(d.get("shares", 0))),
        created_at=video.created_at, upload_completed_at=video.upload_completed_at,
        playable_at=video.playable_at, ready_at=video.ready_at,
        failure=Failure(code=video.failure_code or "unknown", reason=video.failure_reason or "")
        # A playable video whose later steps failed keeps playing its first ladder; the creator sees why.
        if video.state == repo.VideoState.FAILED or (video.state == repo.VideoState.PLAYABLE and video.failure_code)
        else None,
        playback_url=url(video.master_key) if ready else None,
        poster_url=url(video.poster_key) if ready and video.poster_key else None,
        thumbnails_vtt_url=url(video.sprite_vtt_key) if ready and video.sprite_vtt_key else None,
        renditions=[RenditionOut(name=r.name, kind=r.kind, codecs=r.codecs, width=r.width, height=r.height,
                                 bandwidth=r.bandwidth) for r in video.renditions] if ready else [],
        pipeline_run_id=video.pipeline_run_id, step_seconds=video.step_seconds or {},
        moderation=moderation_out(video.state, video.moderation, video.moderation_reason)
        if own and not video.deleted_at else None,
    )


def moderation_out(state: str, moderation: str, reason: str | None) -> ModerationOut | None:
    """Where a video stands with moderation, for its creator; None when there is nothing to say."""
    if state == repo.VideoState.REMOVED:
        return ModerationOut(status="removed", reason=reason)
    if moderation != Moderation.CLEAR:
        return ModerationOut(status=moderation, reason=reason)
    return None


def _load(s: Session, video_id: str, *, for_update: bool = False) -> Video:
    try:
        return repo.get_video(s, video_id, for_update=for_update)
    except repo.VideoNotFound as exc:
        raise ApiError(404, "video_not_found", str(exc)) from exc


def load_visible(s: Session, video_id: str, viewer: str | None) -> Video:
    """The video if ``viewer`` may see it; 404 otherwise, so private videos do not reveal they exist."""
    video = _load(s, video_id)
    if not social.can_view(s, viewer, video):
        raise ApiError(404, "video_not_found", f"video {video_id!r} does not exist")
    return video


def load_own(s: Session, video_id: str, user: str, *, for_update: bool = False) -> Video:
    video = _load(s, video_id, for_update=for_update)
    if video.deleted_at is not None:
        raise ApiError(404, "video_not_found", f"video {video_id!r} has been deleted")
    if video.creator_id != user:
        raise ApiError(403, "forbidden", "only the video's creator may do this")
    return video


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _require_uploading(video: Video) -> None:
    if video.state != repo.VideoState.UPLOADING:
        raise ApiError(409, "invalid_state", f"video {video.id} is {video.state}; only an uploading video "
                                             "can take its file")


def _multipart(video: Video, parts: list[uploads.PartUrl], uploaded: list[StoredPart] | None = None, *,
               assembled: bool = False) -> MultipartTarget:
    size, part_size = video.upload_size or 0, video.upload_part_size or 1
    return MultipartTarget(upload_id=video.upload_id or "", part_size=part_size,
                           part_count=len(uploads.planned_sizes(size, part_size)),
                           parts=[PartTarget(part_number=p.number, size_bytes=p.size, url=p.url) for p in parts],
                           uploaded=[StoredPartOut(part_number=p.number, size_bytes=p.size, etag=p.etag)
                                     for p in uploaded or []], assembled=assembled)


def _single_put(svc: Services, video: Video) -> str:
    # The declared size is signed into the URL, so S3 refuses any other body length before storing it. A video
    # registered before sizes were required has none: it gets no URL (the client registers it again).
    if video.upload_size is None:
        raise ApiError(409, "invalid_state", f"video {video.id} was registered without its size; register the "
                                             "upload again with size_bytes")
    return svc.multipart.presign_put(svc.raw_bucket, repo.raw_key_for(video.id), video.upload_size,
                                     svc.presign_expiry_s)


def _target(svc: Services, video: Video, multipart: MultipartTarget | None = None) -> UploadTarget:
    return UploadTarget(url=None if multipart else _single_put(svc, video), expires_in_s=svc.presign_expiry_s,
                        max_bytes=svc.max_upload_bytes, size_bytes=video.upload_size, multipart=multipart)


@router.post("", status_code=201, response_model=CreatedVideo, responses=CREATE_ERRORS)
def create_video(body: CreateVideo, user: User, svc: Svc) -> CreatedVideo:
    """Register a video (creator = the token's user) and get where its file goes: one presigned PUT, or, when the
    declared size is above the multipart threshold, a multipart upload with a presigned URL per part."""
    if body.size_bytes > svc.max_upload_bytes:
        raise ApiError(413, "too_large", f"the file is {_mib(body.size_bytes)}; the limit is "
                                         f"{_mib(svc.max_upload_bytes)}")
    with session_scope(svc.sessions) as s:
        creator = users_repo.find_user(s, user)
        if creator is None:
            raise ApiError(401, "invalid_token", "the token's user does not exist")
        if body.sound_id is not None:
            try:
                sounds.check_usable(s, body.sound_id, user)
            except sounds.SoundUnavailable as exc:
                raise ApiError(422, exc.code, exc.message,
                               fields=[FieldProblem(field="sound_id", problem=exc.message)]) from exc
        video = repo.create_video(s, caption=body.caption, hashtags=body.hashtags, creator_id=user,
                                  privacy=body.privacy, sound_id=body.sound_id, category=body.category,
                                  region=creator.region, upload_size=body.size_bytes)
        multipart = None
        if body.size_bytes > svc.multipart_threshold_bytes:
            # If this transaction fails after S3 created the upload, upload_lifecycle aborts the orphan.
            started = uploads.start_multipart(svc.multipart, svc.raw_bucket, repo.raw_key_for(video.id),
                                              size=body.size_bytes,
                                              preferred_part_size=svc.multipart_part_bytes,
                                              expires_s=svc.presign_expiry_s)
            video = repo.set_multipart(s, video.id, upload_id=started.upload_id, part_size=started.part_size)
            multipart = _multipart(video, started.parts)
        target = _target(svc, video, multipart)
        out = _out(video, svc, creator.handle)
    return CreatedVideo(video=out, upload=target)


@router.get("/{video_id}/upload", response_model=UploadTarget, responses=RESUME_ERRORS)
def resume_upload(video_id: VideoId, user: User, svc: Svc) -> UploadTarget:
    """Resume an upload (the creator only): for a multipart upload, the parts S3 already holds (ListParts) and
    fresh URLs for the missing ones; for a single PUT, a fresh URL."""
    with session_scope(svc.sessions) as s:
        video = load_own(s, video_id, user)
        _require_uploading(video)
        if not video.upload_id:
            return _target(svc, video)
        try:
            state = uploads.progress(svc.multipart, svc.raw_bucket, repo.raw_key_for(video.id), video.upload_id,
                                     size=video.upload_size or 0, part_size=video.upload_part_size or 1,
                                     expires_s=svc.presign_expiry_s)
        except UploadNotFound as exc:
            if svc.store.stat_size(svc.raw_bucket, repo.raw_key_for(video.id)) is None:
                raise ApiError(409, "upload_gone", "the multipart upload was aborted; register the video "
                                                   "again") from exc
            return _target(svc, video, _multipart(video, [], assembled=True))
        return _target(svc, video, _multipart(video, state.missing, state.uploaded))


def _join_parts(svc: Services, video: Video) -> None:
    """Complete the multipart upload from S3's own list of parts; 409 naming what is missing or wrong."""
    try:
        uploads.complete_multipart(svc.multipart, svc.raw_bucket, repo.raw_key_for(video.id), video.upload_id or "",
                                   size=video.upload_size or 0, part_size=video.upload_part_size or 1)
    except uploads.PartsMissing as exc:
        raise ApiError(409, "parts_missing", f"{exc}; GET /v1/videos/{video.id}/upload re-issues their URLs",
                       extra={"missing_parts": exc.numbers}) from exc
    except uploads.PartsMismatch as exc:
        raise ApiError(409, "size_mismatch", f"{exc}; upload {'them' if len(exc.sizes) > 1 else 'it'} again",
                       extra={"mismatched_parts": sorted(exc.sizes)}) from exc


@router.post("/{video_id}/complete", status_code=202, response_model=VideoOut, responses=COMPLETE_ERRORS)
def complete_upload(video_id: VideoId, user: User, svc: Svc) -> VideoOut:
    """The client finished its PUT (or its parts): join the parts, seal the file, check its size, start
    processing. Sealing copies the upload to a key no URL names; the pipeline reads only that copy, so a PUT
    through the old URL afterwards changes nothing it sees."""
    too_large: str | None = None
    with session_scope(svc.sessions) as s:
        video = load_own(s, video_id, user, for_update=True)
        if video.state != repo.VideoState.UPLOADING:
            raise ApiError(409, "invalid_state", f"video {video_id} is {video.state}; only an uploading video "
                                                 "can be completed")
        if video.upload_id:
            _join_parts(svc, video)
        # A complete that answers 409 or 503 rolls back: the video keeps its upload key (and may be completed
        # again); the sealed copy it made is overwritten then, or removed with the video by upload_lifecycle.
        sealed = uploads.seal(svc.store, svc.raw_bucket, video_id)
        if sealed is None:
            raise ApiError(409, "upload_missing", "no file has been uploaded yet; PUT it to the upload URL first")
        video = repo.seal_raw(s, video_id, sealed.key)
        if sealed.size > svc.max_upload_bytes:
            too_large = f"the file is {_mib(sealed.size)}; the limit is {_mib(svc.max_upload_bytes)}"
            repo.mark_failed(s, video_id, code="too_large", reason=too_large)
        elif video.upload_size is not None and sealed.size != video.upload_size:
            raise ApiError(409, "size_mismatch", f"the stored file is {sealed.size} bytes, not the declared "
                                                 f"{video.upload_size}; upload it again")
        else:
            try:
                run_id = svc.pipeline.trigger_ingest(video_id)
            except PipelineUnavailable as exc:
                # Rolled back: the video stays "uploading" and the client may simply retry.
                raise ApiError(503, "pipeline_unavailable", f"processing could not be started: {exc}") from exc
            video = repo.start_processing(s, video_id, run_id=run_id)
        out = _out(video, svc)
    uploads.discard_upload(svc.store, svc.raw_bucket, video_id)  # committed: the sealed copy is the file
    if too_large:
        raise ApiError(413, "too_large", too_large)
    return out


@router.get("/{video_id}", response_model=VideoOut, responses=VISIBLE_ERRORS)
def get_video(video_id: VideoId, user: MaybeUser, svc: Svc) -> VideoOut:
    """Anyone may see a ready public video; its creator sees it in every state (a removed one too, with the
    moderator's reason)."""
    with session_scope(svc.sessions) as s:
        video = load_visible(s, video_id, user)
        creator = users_repo.find_user(s, video.creator_id) if video.creator_id else None
        return _out(video, svc, creator.handle if creator else None, live_deltas(svc, [video_id]).get(video_id),
                    own=user is not None and user == video.creator_id)


@router.patch("/{video_id}", response_model=VideoOut, responses=OWNER_ERRORS)
def edit_video(video_id: VideoId, body: EditVideo, user: User, svc: Svc, background: BackgroundTasks) -> VideoOut:
    """The creator edits the caption (hashtags written in it follow it), the hashtags or who may see it.
    Narrowing the audience (public -> followers or private, followers -> private) takes effect everywhere at
    once: feeds and search at once, and the edge is purged through the outbox, as a takedown is, so its
    cached copies and its cached answer for the video go; the unsigned URL stops working."""
    with session_scope(svc.sessions) as s:
        video = load_own(s, video_id, user, for_update=True)
        narrowed = repo.edit(s, video, caption=body.caption, privacy=body.privacy, hashtags=body.hashtags)
        if narrowed:
            purge.enqueue(s, video_id, keep_origin=True)
        creator = users_repo.find_user(s, user)
        out = _out(video, svc, creator.handle if creator else None, live_deltas(svc, [video_id]).get(video_id))
    drop_cards(svc, [video_id])
    if narrowed:
        background.add_task(purge.process_pending, svc.sessions, svc.origin, svc.purger, video_id=video_id)
    return out


@router.delete("/{video_id}", status_code=204, responses=OWNER_ERRORS)
def delete_video(video_id: VideoId, user: User, svc: Svc, background: BackgroundTasks) -> None:
    """Tombstone now (the video leaves every feed at once); remove its objects and purge the CDN after the
    answer, through the outbox, so an unreachable edge delays the purge but never loses it."""
    with session_scope(svc.sessions) as s:
        load_own(s, video_id, user, for_update=True)
        repo.tombstone(s, video_id)
        purge.enqueue(s, video_id)
    drop_cards(svc, [video_id])
    background.add_task(purge.process_pending, svc.sessions, svc.origin, svc.purger, video_id=video_id)


@studio_router.get("/videos", response_model=StudioVideos)
def my_videos(user: User, svc: Svc, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> StudioVideos:
    """The creator studio's list: the caller's own videos in every state (uploading, processing, failed with
    the reason, removed with the moderator's) but deleted; nobody else's."""
    with session_scope(svc.sessions) as s:
        creator = users_repo.find_user(s, user)
        rows = repo.own_videos(s, user, limit=limit)
        deltas = live_deltas(svc, [v.id for v in rows])
        return StudioVideos(items=[_out(v, svc, creator.handle if creator else None, deltas.get(v.id)) for v in rows])


@router.get("/{video_id}/analytics", response_model=AnalyticsOut, responses=OWNER_ERRORS)
def analytics(video_id: VideoId, user: User, svc: Svc) -> AnalyticsOut:
    """Totals (flushed + live) and the last 48 clock hours from the event log; the creator only."""
    with session_scope(svc.sessions) as s:
        video = load_own(s, video_id, user)
        hours = events.hourly(s, video_id)
        furthest = events.furthest_progress(s, video_id)
    d = {k: int(v) for k, v in (live_deltas(svc, [video_id]).get(video_id) or {}).items()}
    views = video.view_count + d.get("views", 0)
    completions = video.completions + d.get("completions", 0)
    watch = video.watch_ms_total + d.get("watch_ms", 0)
    return AnalyticsOut(
        video_id=video_id, views=views, likes=max(0, video.like_count + d.get("likes", 0)),
        comments=video.comment_count + d.get("comments", 0), shares=video.share_count + d.get("shares", 0),
        watch_ms_total=watch, completions=completions,
        completion_rate=round(completions / views, 4) if views else 0.0,
        average_watch_ms=round(watch / views, 1) if views else 0.0,
        hourly=[HourOut(hour=h.hour, views=h.views, completions=h.completions, watch_ms=h.watch_ms) for h in hours],
        retention=events.retention_curve(furthest), retention_views=len(furthest))
