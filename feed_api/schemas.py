"""Request and response bodies."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

HASHTAG = re.compile(r"^[\w]{1,64}$", re.UNICODE)


class CreateVideo(BaseModel):
    caption: str = Field("", max_length=2200)
    hashtags: list[str] = Field(default_factory=list, max_length=30)

    @field_validator("hashtags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        cleaned: list[str] = []
        for tag in tags:
            t = tag.strip().lstrip("#")
            if not HASHTAG.match(t):
                raise ValueError(f"hashtag {tag!r} must be 1-64 letters, digits or underscores")
            if t.lower() not in (c.lower() for c in cleaned):
                cleaned.append(t)
        return cleaned


class UploadTarget(BaseModel):
    method: str = "PUT"
    url: str
    expires_in_s: int
    max_bytes: int


class Failure(BaseModel):
    code: str
    reason: str


class RenditionOut(BaseModel):
    name: str
    kind: str
    codecs: str
    width: int
    height: int
    bandwidth: int


class VideoOut(BaseModel):
    id: str
    state: str
    caption: str
    hashtags: list[str]
    created_at: datetime
    upload_completed_at: datetime | None = None
    ready_at: datetime | None = None
    failure: Failure | None = None
    playback_url: str | None = None
    poster_url: str | None = None
    thumbnails_vtt_url: str | None = None
    renditions: list[RenditionOut] = Field(default_factory=list)
    pipeline_run_id: str | None = None
    step_seconds: dict[str, float] = Field(default_factory=dict, description="library work per pipeline step")


class CreatedVideo(BaseModel):
    video: VideoOut
    upload: UploadTarget
