"""Tables of the catalog."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_video_id() -> str:
    # 64 random bits, URL-safe and unguessable enough that ids can't be enumerated.
    return secrets.token_hex(8)


new_user_id = new_video_id  # users get the same 16-hex ids


class Privacy(enum.StrEnum):
    PUBLIC = "public"  # every feed
    FOLLOWERS = "followers"  # the creator's followers only (their Following feed, the video page)
    PRIVATE = "private"  # the creator only; never in a feed


class VideoState(enum.StrEnum):
    UPLOADING = "uploading"
    PROCESSING = "processing"
    PLAYABLE = "playable"  # a first H.264 ladder is published; the other codecs and rungs are still coming
    READY = "ready"  # the full ladder is published
    FAILED = "failed"
    # Taken down by a moderator: served nowhere (it is not in SERVABLE_STATES), its objects kept at the origin so
    # an upheld appeal can restore the state it had, which the removal's audit row keeps.
    REMOVED = "removed"


# The states in which a video has a published master and may be served (feeds, playback URLs, likes).
SERVABLE_STATES = (VideoState.PLAYABLE, VideoState.READY)


class Role(enum.StrEnum):
    USER = "user"
    MODERATOR = "moderator"  # the review queue, moderation actions, appeals, the audit log
    ADMIN = "admin"  # a moderator too (and whatever admin-only routes come later)


# Roles that may use the moderation routes.
MODERATOR_ROLES = (Role.MODERATOR, Role.ADMIN)


class Moderation(enum.StrEnum):
    """Where a video stands with moderation, besides its state: what may recommend it to strangers."""

    CLEAR = "clear"  # every feed
    REVIEW = "review"  # held for review (reports past a threshold, a classifier): out of discovery feeds
    RESTRICTED = "restricted"  # out of discovery feeds for good; still plays by link, on the profile, in Following


# What search and other discovery surfaces may return, as literal SQL: the partial search indexes carry the same
# predicate, and the planner uses a partial index only when it can prove a query's WHERE implies it, which it
# cannot do through bound parameters in a cached generic plan. The rules are catalog.feeds' for discovery feeds
# (servable, not deleted, public, clear with moderation); migration 0015 froze this text in its indexes, and
# tests/unit/test_search_query.py keeps the two equal.
def discoverable_sql(table: str = "") -> str:
    p = f"{table}." if table else ""
    states = ", ".join(f"'{s.value}'" for s in SERVABLE_STATES)
    return (f"{p}state IN ({states}) AND {p}deleted_at IS NULL AND {p}privacy = '{Privacy.PUBLIC.value}' "
            f"AND {p}moderation = '{Moderation.CLEAR.value}'")


DISCOVERABLE_SQL = discoverable_sql()


class Base(DeclarativeBase):
    pass


class User(Base):
    """A viewer and creator. ``interests`` are the topics (hashtags, lower case) picked at sign-up."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_user_id)
    handle: Mapped[str] = mapped_column(String(32), unique=True)  # lower case, checked by the API
    display_name: Mapped[str] = mapped_column(Text, default="")
    region: Mapped[str] = mapped_column(String(8), default="global")
    interests: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    role: Mapped[str] = mapped_column(String(16), default=Role.USER, server_default=Role.USER.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Accounts (migration 0016). An argon2id hash (catalog.passwords); None: an account from before passwords,
    # or signed up without one, which cannot log in until it sets one.
    password_hash: Mapped[str | None] = mapped_column(Text, deferred=True)
    # Every access token carries the version it was issued under (its ``sv`` claim); signing out everywhere
    # and changing the password bump it, so every older access token stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bio: Mapped[str] = mapped_column(Text, default="", server_default="")
    avatar_key: Mapped[str | None] = mapped_column(Text)  # the 256 px JPEG's key in the vod bucket; None: none


class RefreshToken(Base):
    """One opaque refresh token, stored as the SHA-256 of its text only. Tokens descending from one sign-in
    share a ``family_id``; each is used once (``used_at``, ``replaced_by`` its successor). A used token shown
    again means a copy is in someone else's hands: the whole family is revoked."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # pruning
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (
        # What the feeds scan: servable public videos by recency (trending fallback, cold start).
        Index("ix_videos_servable", "playable_at", "id",
              postgresql_where=text("state IN ('playable','ready') AND deleted_at IS NULL AND privacy = 'public'")),
        Index("ix_videos_creator_playable", "creator_id", "playable_at"),
        Index("ix_videos_tag_keys", "tag_keys", postgresql_using="gin"),
        # Search (catalog.search, migration 0015): over discoverable videos only, the only ones search returns.
        Index("ix_videos_search_doc", "search_doc", postgresql_using="gin", postgresql_where=text(DISCOVERABLE_SQL)),
        Index("ix_videos_search_hot", text("search_hot DESC"), postgresql_where=text(DISCOVERABLE_SQL)),
        CheckConstraint("privacy IN ('public','followers','private')", name="videos_privacy_valid"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_video_id)
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    caption: Mapped[str] = mapped_column(Text, default="")
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)  # as the creator wrote them
    tag_keys: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)  # lower case: what feeds match on
    privacy: Mapped[str] = mapped_column(String(16), default=Privacy.PUBLIC)
    sound_id: Mapped[str | None] = mapped_column(String(64), index=True)
    category: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(8))  # the creator's region at upload
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # tombstone: never served again
    # Totals that the live Redis counters are flushed into (catalog.counters); the feed adds pending deltas.
    view_count: Mapped[int] = mapped_column(BigInteger, default=0)
    like_count: Mapped[int] = mapped_column(BigInteger, default=0)
    comment_count: Mapped[int] = mapped_column(BigInteger, default=0)
    share_count: Mapped[int] = mapped_column(BigInteger, default=0)
    watch_ms_total: Mapped[int] = mapped_column(BigInteger, default=0)
    completions: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default=VideoState.UPLOADING, index=True)
    # Discovery feeds (For You, trending, hashtag, sound) take only ``clear`` videos; see ``Moderation``.
    moderation: Mapped[str] = mapped_column(String(16), default=Moderation.CLEAR,
                                            server_default=Moderation.CLEAR.value)
    moderation_reason: Mapped[str | None] = mapped_column(Text)  # the last restrict/remove's reason, for the creator
    report_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # distinct reporters
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    raw_key: Mapped[str] = mapped_column(Text)
    # The upload as registered: the size the client declared (None from clients that declare none) and, for a
    # multipart upload, S3's upload id and the part size its URLs were signed for.
    upload_size: Mapped[int | None] = mapped_column(BigInteger)
    upload_id: Mapped[str | None] = mapped_column(Text)
    upload_part_size: Mapped[int | None] = mapped_column(BigInteger)
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
    # When the video first became watchable (its playable master, or the full one when there was no first
    # stage): feeds order by it. ``ready_at``: when its full ladder was published.
    playable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written by PostgreSQL (generated columns, migration 0015), read by catalog.search only, so never loaded with
    # the row. search_doc: hashtags weighted A, the caption B. search_hot: the candidate order, log2 of
    # engagement in half-octave steps plus age in 72-hour half-lives (docs/search.md).
    search_doc: Mapped[str | None] = deferred(mapped_column(
        TSVECTOR, Computed("reelflow_search_doc(caption, tag_keys)", persisted=True)))
    search_hot: Mapped[float | None] = deferred(mapped_column(Float, Computed(
        "reelflow_search_hot(view_count, like_count, comment_count, share_count, coalesce(playable_at, created_at))",
        persisted=True)))

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
    """A video's reference fingerprint: the PDQ engine's (``media.fingerprint.Fingerprint.to_bytes``); rows from
    before it hold only the first engine's frame times and 64-bit pHashes (stored signed)."""

    __tablename__ = "fingerprints"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary)
    times: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))  # legacy pHash engine
    hashes: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))  # legacy pHash engine
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredEmbedding(Base):
    """A video's content vector from one model (little-endian float32 bytes; several models may coexist)."""

    __tablename__ = "video_embeddings"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(Text, primary_key=True)
    dimension: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (PrimaryKeyConstraint("follower_id", "followee_id"), Index("ix_follows_followee", "followee_id"),
                      CheckConstraint("follower_id <> followee_id", name="follows_not_self"))

    follower_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    followee_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Block(Base):
    """``blocker`` never sees ``blocked``'s videos, and vice versa."""

    __tablename__ = "blocks"
    __table_args__ = (PrimaryKeyConstraint("blocker_id", "blocked_id"), Index("ix_blocks_blocked", "blocked_id"))

    blocker_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    blocked_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Like(Base):
    __tablename__ = "likes"
    __table_args__ = (PrimaryKeyConstraint("user_id", "video_id"), Index("ix_likes_video", "video_id"))

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (CheckConstraint("char_length(body) BETWEEN 1 AND 500", name="comments_body_length"),
                      Index("ix_comments_video", "video_id", "id"), Index("ix_comments_parent", "parent_id", "id"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # removed by a moderator


class Share(Base):
    __tablename__ = "shares"
    __table_args__ = (Index("ix_shares_video", "video_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32), default="link")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotInterested(Base):
    """A viewer's "not interested": a creator or a topic (hashtag, lower case) kept out of their feeds."""

    __tablename__ = "not_interested"
    __table_args__ = (PrimaryKeyConstraint("user_id", "kind", "value"),
                      CheckConstraint("kind IN ('creator','tag')", name="not_interested_kind"))

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InteractionEvent(Base):
    """The durable, append-only event log (Redis here keeps nothing on disk). Never updated or deleted.

    ``kind``: view_start, progress, complete, skip (client batches) and like, unlike, share, comment,
    follow, unfollow, not_interested (written by the API). ``counted`` marks the view_start that counted
    as a view after de-duplication (one per user, video and clock hour).
    """

    __tablename__ = "interaction_events"
    __table_args__ = (Index("ix_events_video_time", "video_id", "occurred_at"),
                      Index("ix_events_user_time", "user_id", "occurred_at"),
                      Index("ix_events_time", "occurred_at"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[str] = mapped_column(String(32))  # no foreign keys: a log outlives what it mentions
    video_id: Mapped[str | None] = mapped_column(String(32))
    session_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    watch_ms: Mapped[int | None] = mapped_column(Integer)
    progress: Mapped[float | None] = mapped_column(REAL)  # 0..1 of the video's duration
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[dict | None] = mapped_column(JSONB)


class PendingPurge(Base):
    """The CDN purge outbox: a deleted video whose edge purge has not been acknowledged yet."""

    __tablename__ = "pending_purges"

    video_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A takedown purges the CDN but keeps the origin's objects (an appeal may restore the video); a delete
    # removes both, and wins over a pending takedown's row.
    keep_origin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    next_try_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                  server_default=text("now()"))


class VideoEvent(Base):
    """One step of a video's processing as its creator follows it (the status stream reads these in id order).

    ``kind``: processing, validated, rejected (with code and reason), playable, codec_encoded (per codec),
    ready, failed. Written in the transaction that makes the change, so the stream never misses one.
    """

    __tablename__ = "video_events"
    __table_args__ = (Index("ix_video_events_video", "video_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    run_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))


class Notification(Base):
    """An in-app notification for one user: a video of theirs became playable, failed or was moderated, or
    someone (``actor``) followed them, liked or commented on their video, or replied to their comment.

    ``dedup_key``: at most one notification per user and key (migration 0017's partial unique index), so a
    like toggled ten times, or a follow undone and redone, tells its user once."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user", "user_id", "id"),
                      # The unread badge: count(*) over the unread rows of one user only.
                      Index("ix_notifications_unread", "user_id", "id", postgresql_where=text("read_at IS NULL")),
                      Index("ix_notifications_dedup", "user_id", "dedup_key", unique=True,
                            postgresql_where=text("dedup_key IS NOT NULL")))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    video_id: Mapped[str | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    # Who did it (None: the system). An actor's account going takes their notifications with it.
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    dedup_key: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SoundKind(enum.StrEnum):
    ORIGINAL = "original"  # made from an upload's own audio at ingest ("original sound - @handle")
    LIBRARY = "library"  # added by the platform (and every free-string sound id from before the table)


class Sound(Base):
    """A sound videos can use (``videos.sound_id``). An original sound is its video's first 60 s of audio,
    published beside the video (``audio_key``, under the video's own prefix, so the edge's per-video access
    rules cover it); it is listed and playable for others only while that video is public and servable
    (``catalog.sounds``). Use counts are computed from ``videos.sound_id`` (indexed), not stored."""

    __tablename__ = "sounds"
    __table_args__ = (CheckConstraint("kind IN ('original','library')", name="sounds_kind"),
                      Index("ix_sounds_original_video", "original_video_id", unique=True,
                            postgresql_where=text("original_video_id IS NOT NULL")),
                      Index("ix_sounds_creator", "creator_id"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # what videos.sound_id holds
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default=SoundKind.LIBRARY)
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The video it came from; a hard-deleted video takes its original sound with it.
    original_video_id: Mapped[str | None] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    audio_key: Mapped[str | None] = mapped_column(Text)  # the .m4a clip in the vod bucket; None: no audio yet
    duration_s: Mapped[float | None] = mapped_column(REAL)
    reusable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))


class Report(Base):
    """A user's report of a video, a comment or a user. One per reporter and target (reporting again changes
    nothing); ``open`` until a moderator acts on the target."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("reporter_id", "target_kind", "target_id", name="reports_once"),
                      Index("ix_reports_open", "target_kind", "target_id", postgresql_where=text("status = 'open'")),
                      CheckConstraint("target_kind IN ('video','comment','user')", name="reports_target_kind"),
                      CheckConstraint("status IN ('open','resolved')", name="reports_status"),
                      CheckConstraint("char_length(note) <= 500", name="reports_note_length"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # None: filed by a check (the ingest classifier), which the note names.
    reporter_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32))  # a video or user id, or a comment id as text
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(32))


class ModerationAction(Base):
    """The audit log: every moderation decision, append-only (a trigger refuses UPDATE and DELETE). No foreign
    keys: the log outlives what it mentions. ``previous_state`` is the video's state before a removal, which
    a restore puts back."""

    __tablename__ = "moderation_actions"
    __table_args__ = (Index("ix_moderation_actions_target", "target_kind", "target_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    moderator_id: Mapped[str | None] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    previous_state: Mapped[str | None] = mapped_column(String(16))
    previous_moderation: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))


class Appeal(Base):
    """A creator's appeal of one removal (at most one per removal)."""

    __tablename__ = "appeals"
    __table_args__ = (UniqueConstraint("removal_id", name="appeals_once_per_removal"),
                      Index("ix_appeals_open", "created_at", postgresql_where=text("status = 'open'")),
                      CheckConstraint("status IN ('open','upheld','denied')", name="appeals_status"),
                      CheckConstraint("char_length(statement) BETWEEN 1 AND 1000", name="appeals_statement_length"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    removal_id: Mapped[int] = mapped_column(BigInteger)  # the moderation_actions row of the removal
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)


class ProhibitedMedia(Base):
    """One entry of the prohibited-media list: a perceptual fingerprint that no upload may match (ingest
    rejects a match as ``prohibited``). Unlike dedup references, entries outlive the video they came from."""

    __tablename__ = "prohibited_media"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary)
    times: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))  # legacy pHash engine
    hashes: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))  # legacy pHash engine
    reason: Mapped[str] = mapped_column(Text)
    source_video_id: Mapped[str | None] = mapped_column(String(32))  # no foreign key: outlives the video
    added_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=text("now()"))


class SearchTerm(Base):
    """One word, hashtag or sound of the discoverable videos, with how many of them carry it: the dictionary that
    typo correction, completion and hashtag/sound search read (trigram-indexed). Rebuilt from the videos by
    ``catalog.search.refresh_terms``, so it never holds a word only private or removed videos use."""

    __tablename__ = "search_terms"
    __table_args__ = (CheckConstraint("kind IN ('word', 'tag', 'sound')", name="search_terms_kind"),
                      # One per kind, on lower(term), which equals term, so that exact look-ups keep the
                      # primary key: see migration 0015.
                      *(Index(f"ix_search_terms_trgm_{kind}", text("lower(term) gist_trgm_ops"),
                              postgresql_using="gist", postgresql_where=text(f"kind = '{kind}'"))
                        for kind in ("word", "tag", "sound")),
                      Index("ix_search_terms_prefix", "kind", text("term text_pattern_ops")))

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    term: Mapped[str] = mapped_column(Text, primary_key=True)  # the match key: lower case
    label: Mapped[str] = mapped_column(Text)  # as shown: a sound id keeps its case
    ndoc: Mapped[int] = mapped_column(Integer)


# Typo-tolerant people search (catalog.search, migration 0015); declared here rather than in User's table
# arguments so the search indexes stay apart from the account model.
Index("ix_users_handle_trgm", User.handle, postgresql_using="gin", postgresql_ops={"handle": "gin_trgm_ops"})
Index("ix_users_display_name_trgm", User.display_name, postgresql_using="gin",
      postgresql_ops={"display_name": "gin_trgm_ops"})
