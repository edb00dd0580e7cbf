"""Upload and video-status endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from catalog import videos as repo
from catalog.db import session_scope
from catalog.models import Video
from feed_api.airflow_client import PipelineUnavailable
from feed_api.errors import ApiError
from feed_api.schemas import CreatedVideo, CreateVideo, Failure, RenditionOut, UploadTarget, VideoOut
from feed_api.services import Services, services

router = APIRouter(prefix="/v1/videos", tags=["videos"])
VideoId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="video id")]
Svc = Annotated[Services, Depends(services)]


def _out(video: Video, svc: Services) -> VideoOut:
    ready = video.state == repo.VideoState.READY and video.master_key
    return VideoOut(
        id=video.id, state=video.state, caption=video.caption, hashtags=list(video.hashtags or []),
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


def _load(s, video_id: str, *, for_update: bool = False) -> Video:
    try:
        return repo.get_video(s, video_id, for_update=for_update)
    except repo.VideoNotFound as exc:
        raise ApiError(404, "video_not_found", str(exc)) from exc


@router.post("", status_code=201, response_model=CreatedVideo)
def create_video(body: CreateVideo, svc: Svc) -> CreatedVideo:
    """Register a video and get a presigned PUT URL for its file in the raw bucket."""
    with session_scope(svc.sessions) as s:
        video = repo.create_video(s, caption=body.caption, hashtags=body.hashtags)
        url = svc.store.presigned_put(svc.raw_bucket, video.raw_key, svc.presign_expiry_s)
        out = _out(video, svc)
    return CreatedVideo(video=out, upload=UploadTarget(url=url, expires_in_s=svc.presign_expiry_s,
                                                       max_bytes=svc.max_upload_bytes))


@router.post("/{video_id}/complete", status_code=202, response_model=VideoOut)
def complete_upload(video_id: VideoId, svc: Svc) -> VideoOut:
    """The client finished its PUT: start processing."""
    too_large: str | None = None
    with session_scope(svc.sessions) as s:
        video = _load(s, video_id, for_update=True)
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


@router.get("/{video_id}", response_model=VideoOut)
def get_video(video_id: VideoId, svc: Svc) -> VideoOut:
    with session_scope(svc.sessions) as s:
        return _out(_load(s, video_id), svc)
