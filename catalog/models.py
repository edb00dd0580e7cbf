"""Tables of the catalog."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import REAL, BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_video_id() -> str:
    # 64 random bits, URL-safe and unguessable enough that ids can't be enumerated.
    return secrets.token_hex(8)


class VideoState(enum.StrEnum):
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Base(DeclarativeBase):
    pass


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_video_id)
    creator_id: Mapped[str | None] = mapped_column(String(64), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    state: Mapped[str] = mapped_column(String(16), default=VideoState.UPLOADING, index=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    raw_key: Mapped[str] = mapped_column(Text)
    source: Mapped[dict | None] = mapped_column(JSONB)
    # Seconds of library work per pipeline step in the latest run (orchestration overhead excluded).
    step_seconds: Mapped[dict] = mapped_column(JSONB, default=dict)
    publish_prefix: Mapped[str | None] = mapped_column(Text)
    master_key: Mapped[str | None] = mapped_column(Text)
    poster_key: Mapped[str | None] = mapped_column(Text)
    sprite_vtt_key: Mapped[str | None] = mapped_column(Text)
    pipeline_run_id: Mapped[str | None] = mapped_column(Text)
    # Set when the dedup policy accepts a near-copy and links it to the video it copies.
    duplicate_of: Mapped[str | None] = mapped_column(ForeignKey("videos.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    upload_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processing_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    renditions: Mapped[list[Rendition]] = relationship(back_populates="video", cascade="all, delete-orphan",
                                                       order_by="Rendition.bandwidth.desc()")


class Rendition(Base):
    __tablename__ = "renditions"
    __table_args__ = (UniqueConstraint("video_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))  # video | audio
    codecs: Mapped[str] = mapped_column(String(64))
    encoder: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    bandwidth: Mapped[int] = mapped_column(BigInteger, default=0)
    average_bandwidth: Mapped[int] = mapped_column(BigInteger, default=0)
    playlist_key: Mapped[str] = mapped_column(Text)

    video: Mapped[Video] = relationship(back_populates="renditions")


class StoredFingerprint(Base):
    """A video's reference fingerprint: frame times and 64-bit pHashes (stored signed)."""

    __tablename__ = "fingerprints"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    times: Mapped[list[float]] = mapped_column(ARRAY(REAL))
    hashes: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredEmbedding(Base):
    """A video's content vector from one model (little-endian float32 bytes; several models may coexist)."""

    __tablename__ = "video_embeddings"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    dimension: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
