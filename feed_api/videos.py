"""Upload, video status, delete and creator analytics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path
from sqlalchemy.orm import Session

from adapters.airflow_api import PipelineUnavailable
from catalog import events, social
from catalog import users as users_repo
from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Video
from feed_api.activity import live_deltas
from feed_api.cards import drop_cards
from feed_api.deps import MaybeUser, Svc, User
from feed_api.errors import ApiError
from feed_api.schemas import (
    AnalyticsOut,
    Author,
    CreatedVideo,
    CreateVideo,
    Failure,
    HourOut,
    RenditionOut,
    Stats,
    UploadTarget,
    VideoOut,
)
from feed_api.services import Services
from jobs import purge

router = APIRouter(prefix="/v1/videos", tags=["videos"])
VideoId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="video id")]
# What the handlers raise; auth, rate-limit, validation and conflict answers are added by feed_api.openapi.
VISIBLE_ERRORS = {404: {"description": "no such video, or not one you may see"}}
OWNER_ERRORS = {403: {"description": "not your video"}, 404: {"description": "no such video, or deleted"}}
COMPLETE_ERRORS = {**OWNER_ERRORS, 409: {"description": "not uploading, or nothing uploaded yet"},
                   413: {"description": "the file is over the upload limit"},
                   503: {"description": "processing could not be started, or overloaded; retry later"}}


def _out(video: Video, svc: Services, handle: str | None = None, deltas: dict | None = None) -> VideoOut:
    ready = video.state == repo.VideoState.READY and video.master_key and video.deleted_at is None
    d = deltas or {}
    return VideoOut(
        id=video.id, state="deleted" if video.deleted_at else video.state, caption=video.caption,
        hashtags=list(video.hashtags or []), privacy=video.privacy, sound_id=video.sound_id, category=video.category,
        author=Author(id=video.creator_id, handle=handle) if video.creator_id else None,
        stats=Stats(views=video.view_count + int(d.get("views", 0)), likes=video.like_count + int(d.get("likes", 0)),
                    comments=video.comment_count + int(d.get("comments", 0)),
                    shares=video.share_count + int(d.get("shares", 0))),
        created_at=video.created_at, upload_completed_at=video.upload_completed_at, ready_at=video.ready_at,
        failure=Failure(code=video.failure_code or "unknown", reason=video.failure_reason or "")
        if video.state == repo.VideoState.FAILED else None,
        playback_url=svc.playback_url(video.master_key) if ready else None,
        poster_url=svc.playback_url(video.poster_key) if ready and video.poster_key else None,
        thumbnails_vtt_url=svc.playback_url(video.sprite_vtt_key) if ready and video.sprite_vtt_key else None,
        renditions=[RenditionOut(name=r.name, kind=r.kind, codecs=r.codecs, width=r.width, height=r.height,
                                 bandwidth=r.bandwidth) for r in video.renditions] if ready else [],
        pipeline_run_id=video.pipeline_run_id, step_seconds=video.step_seconds or {},
    )


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


@router.post("", status_code=201, response_model=CreatedVideo,
             responses={401: {"description": "no or bad token, or its user does not exist"}})
def create_video(body: CreateVideo, user: User, svc: Svc) -> CreatedVideo:
    """Register a video (creator = the token's user) and get a presigned PUT URL for its file."""
    with session_scope(svc.sessions) as s:
        creator = users_repo.find_user(s, user)
        if creator is None:
            raise ApiError(401, "invalid_token", "the token's user does not exist")
        video = repo.create_video(s, caption=body.caption, hashtags=body.hashtags, creator_id=user,
                                  privacy=body.privacy, sound_id=body.sound_id, category=body.category,
                                  region=creator.region)
        url = svc.store.presigned_put(svc.raw_bucket, video.raw_key, svc.presign_expiry_s)
        out = _out(video, svc, creator.handle)
    return CreatedVideo(video=out, upload=UploadTarget(url=url, expires_in_s=svc.presign_expiry_s,
                                                       max_bytes=svc.max_upload_bytes))


@router.post("/{video_id}/complete", status_code=202, response_model=VideoOut, responses=COMPLETE_ERRORS)
def complete_upload(video_id: VideoId, user: User, svc: Svc) -> VideoOut:
    """The client finished its PUT: start processing."""
    too_large: str | None = None
    with session_scope(svc.sessions) as s:
        video = load_own(s, video_id, user, for_update=True)
        if video.state != repo.VideoState.UPLOADING:
            raise ApiError(409, "invalid_state", f"video {video_id} is {video.state}; only an uploading video "
                                                 "can be completed")
        size = svc.store.stat_size(svc.raw_bucket, video.raw_key)
        if size is None:
            raise ApiError(409, "upload_missing", "no file has been uploaded yet; PUT it to the upload URL first")
        if size > svc.max_upload_bytes:
            too_large = f"the file is {size / 2**20:.0f} MiB; the limit is {svc.max_upload_bytes / 2**20:.0f} MiB"
            repo.mark_failed(s, video_id, code="too_large", reason=too_large)
        else:
            try:
                run_id = svc.pipeline.trigger_ingest(video_id)
            except PipelineUnavailable as exc:
                # Rolled back: the video stays "uploading" and the client may simply retry.
                raise ApiError(503, "pipeline_unavailable", f"processing could not be started: {exc}") from exc
            video = repo.start_processing(s, video_id, run_id=run_id)
        out = _out(video, svc)
    if too_large:
        raise ApiError(413, "too_large", too_large)
    return out


@router.get("/{video_id}", response_model=VideoOut, responses=VISIBLE_ERRORS)
def get_video(video_id: VideoId, user: MaybeUser, svc: Svc) -> VideoOut:
    """Anyone may see a ready public video; its creator sees it in every state."""
    with session_scope(svc.sessions) as s:
        video = load_visible(s, video_id, user)
        creator = users_repo.find_user(s, video.creator_id) if video.creator_id else None
        return _out(video, svc, creator.handle if creator else None, live_deltas(svc, [video_id]).get(video_id))


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


@router.get("/{video_id}/analytics", response_model=AnalyticsOut, responses=OWNER_ERRORS)
def analytics(video_id: VideoId, user: User, svc: Svc) -> AnalyticsOut:
    """Totals (flushed + live) and the last 48 clock hours from the event log; the creator only."""
    with session_scope(svc.sessions) as s:
        video = load_own(s, video_id, user)
        hours = events.hourly(s, video_id)
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
        hourly=[HourOut(hour=h.hour, views=h.views, completions=h.completions, watch_ms=h.watch_ms) for h in hours])
