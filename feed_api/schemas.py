"""Request and response bodies."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

HASHTAG = re.compile(r"^[\w]{1,64}$", re.UNICODE)
HANDLE = r"^[A-Za-z0-9_][A-Za-z0-9_.]{1,29}$"  # stored lower case
REGION = r"^[a-z]{2,8}$"
SOUND_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
CATEGORY = r"^[a-z0-9_]{1,32}$"
USER_ID_PATTERN = r"^[0-9a-f]{16}$"


def clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        t = tag.strip().lstrip("#")
        if not HASHTAG.match(t):
            raise ValueError(f"hashtag {tag!r} must be 1-64 letters, digits or underscores")
        if t.lower() not in (c.lower() for c in cleaned):
            cleaned.append(t)
    return cleaned


# Bidirectional overrides and isolates: they make a name display as something else (text reversed mid-line).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def plain_text(value: str, *, newlines: bool = False) -> str:
    """``value`` if it holds no control characters (NUL, escapes, bidi overrides; line breaks only where
    ``newlines``); ValueError naming the first one otherwise."""
    for ch in value:
        if ch in BIDI_CONTROLS or (unicodedata.category(ch) == "Cc" and not (newlines and ch == "\n")):
            raise ValueError(f"control character U+{ord(ch):04X} is not allowed")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EditVideo(Strict):
    caption: str | None = Field(None, max_length=2200, description="hashtags written in it (#word) follow it")
    privacy: Literal["public", "followers", "private"] | None = None
    hashtags: list[str] | None = Field(None, max_length=30, description="replaces the hashtags picked apart "
                                       "from the caption")

    @field_validator("caption")
    @classmethod
    def _plain_caption(cls, v: str | None) -> str | None:
        return None if v is None else plain_text(v, newlines=True)

    @field_validator("hashtags")
    @classmethod
    def _clean_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags)


class CreateVideo(Strict):
    caption: str = Field("", max_length=2200)
    hashtags: list[str] = Field(default_factory=list, max_length=30)
    privacy: Literal["public", "followers", "private"] = "public"
    sound_id: str | None = Field(None, pattern=SOUND_ID, description="the sound (audio track) the video uses")
    category: str | None = Field(None, pattern=CATEGORY)
    size_bytes: int = Field(ge=1, description="the file's exact size, signed into every upload URL (the store "
                            "refuses a body of any other length); over the upload limit is refused (413) before "
                            "anything is stored; above the multipart threshold the upload goes in parts")

    @field_validator("hashtags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        return clean_tags(tags)


class PartTarget(BaseModel):
    part_number: int
    size_bytes: int = Field(description="the body must be exactly this long: the URL is signed with it")
    url: str


class StoredPartOut(BaseModel):
    part_number: int
    size_bytes: int
    etag: str


class MultipartTarget(BaseModel):
    upload_id: str
    part_size: int = Field(description="every part but the last is this long; part n starts at (n-1)*part_size")
    part_count: int
    parts: list[PartTarget] = Field(description="the parts to PUT: all of them at registration, the missing "
                                                "ones when resuming")
    uploaded: list[StoredPartOut] = Field(default_factory=list, description="parts already stored")
    assembled: bool = Field(False, description="the parts are already joined (an earlier complete could not "
                                               "start processing): just complete again")


class UploadTarget(BaseModel):
    method: str = "PUT"
    url: str | None = Field(None, description="the single PUT; null for a multipart upload")
    expires_in_s: int
    max_bytes: int
    size_bytes: int | None = Field(None, description="the declared size")
    multipart: MultipartTarget | None = None


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


class Author(BaseModel):
    id: str
    handle: str | None = None
    display_name: str | None = None


class Stats(BaseModel):
    views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0


class ModerationOut(BaseModel):
    status: str = Field(description="removed (taken down), restricted (out of discovery feeds), review (held "
                                    "for review) or clear")
    reason: str | None = Field(None, description="what the moderator said")


class VideoOut(BaseModel):
    id: str
    state: str = Field(description="uploading, processing, playable (a first H.264 ladder plays; other codecs "
                                   "are coming), ready, failed, or deleted")
    caption: str
    hashtags: list[str]
    privacy: str = "public"
    sound_id: str | None = None
    category: str | None = None
    author: Author | None = None
    stats: Stats = Field(default_factory=Stats)
    created_at: datetime
    upload_completed_at: datetime | None = None
    playable_at: datetime | None = Field(None, description="when it first became watchable (state playable)")
    ready_at: datetime | None = Field(None, description="when its full ladder was published (state ready)")
    failure: Failure | None = None
    playback_url: str | None = None
    poster_url: str | None = None
    thumbnails_vtt_url: str | None = None
    renditions: list[RenditionOut] = Field(default_factory=list)
    pipeline_run_id: str | None = None
    step_seconds: dict[str, float] = Field(default_factory=dict, description="library work per pipeline step")
    moderation: ModerationOut | None = Field(None, description="the creator only: where the video stands with "
                                                               "moderation, when not clear")


class StudioVideos(BaseModel):
    items: list[VideoOut] = Field(description="the caller's videos in every state but deleted, newest first")


class CreatedVideo(BaseModel):
    video: VideoOut
    upload: UploadTarget


# ----------------------------------------------------------------------------------------------- feed
class SoundRef(BaseModel):
    id: str
    title: str = Field(description="\"original sound - @handle\" for a video's own audio, else the library title")


class PrefetchTrack(BaseModel):
    rendition_url: str = Field(description="the media playlist")
    init_url: str = Field(description="its initialisation segment (fMP4)")
    first_segment_url: str


class Prefetch(BaseModel):
    """What a player fetches first to start this video, to open before the swipe (one round trip, in parallel,
    instead of master -> playlist -> segments). The rung is the ABR's start choice at 1 Mbit/s among the H.264
    variants; a client that would pick another rung can ignore the hint."""

    master_url: str
    rendition_url: str = Field(description="the start rung's media playlist")
    init_url: str
    first_segment_url: str
    bandwidth: int = Field(description="the start variant's BANDWIDTH in the master (video + audio peak, bit/s)")
    audio: PrefetchTrack | None = Field(None, description="the audio rendition's start (None: no separate audio)")


class FeedItem(BaseModel):
    id: str
    caption: str
    hashtags: list[str]
    sound_id: str | None = None
    sound: SoundRef | None = Field(None, description="the sound the video uses (its page: GET /v1/sounds/{id})")
    category: str | None = None
    privacy: str
    author: Author
    stats: Stats
    duration_s: float | None = None
    created_at: str
    ready_at: str | None = None
    poster_url: str | None = None
    playback_url: str
    prefetch: Prefetch | None = Field(None, description="the start of the video for prefetching (signed like "
                                      "playback_url); None for a video without an H.264 rung, or a card cached "
                                      "before hints existed (cards live a minute)")


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_cursor: str | None = Field(None, description="opaque; pass it back to get the next page")
    source: str = Field(description="what served the page: pool, trending, catalog or a fallback")


# ----------------------------------------------------------------------------------------------- users
PASSWORD_FIELD = dict(max_length=4096, description="at least 8 characters, at most 1024 bytes as UTF-8")


class SignUp(Strict):
    handle: str = Field(pattern=HANDLE, description="2-30 characters: letters, digits, _ and . (case-insensitive)")
    display_name: str = Field("", max_length=64)
    region: str = Field("global", pattern=REGION)
    interests: list[str] = Field(default_factory=list, max_length=20, description="hashtags picked at sign-up")
    password: str | None = Field(None, max_length=4096, description="optional here (an account without one "
                                 "cannot log in again once its tokens lapse); required by POST /v1/auth/signup")

    @field_validator("display_name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        return plain_text(v)

    @field_validator("handle")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @field_validator("interests")
    @classmethod
    def _clean(cls, tags: list[str]) -> list[str]:
        return [t.lower() for t in clean_tags(tags)]


class UserOut(BaseModel):
    id: str
    handle: str
    display_name: str
    region: str
    interests: list[str]
    created_at: datetime
    followers: int = 0
    following: int = 0
    bio: str = ""
    avatar_url: str | None = Field(None, description="256x256 JPEG on the edge; None without an avatar")
    avatar_small_url: str | None = Field(None, description="64x64 JPEG on the edge")


class MeOut(UserOut):
    has_password: bool = Field(description="false: the account cannot log in until it sets a password")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user_id: str
    refresh_token: str | None = Field(None, description="from POST /v1/users: exchange it at POST /v1/auth/refresh")
    refresh_expires_in: int | None = None


class AccountSignUp(SignUp):
    password: str = Field(**PASSWORD_FIELD)  # type: ignore[assignment]


class Login(Strict):
    handle: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=4096)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=256)


class AuthOut(BaseModel):
    user_id: str
    handle: str
    access_token: str = Field(description="a JWT for Authorization: Bearer; short-lived (expires_in seconds)")
    refresh_token: str = Field(description="opaque, single use: POST /v1/auth/refresh exchanges it for a new pair")
    expires_in: int
    refresh_expires_in: int
    token_type: str = "bearer"


class PasswordChange(Strict):
    current_password: str | None = Field(None, max_length=4096,
                                         description="required when the account has a password")
    new_password: str = Field(**PASSWORD_FIELD)


class ProfileEdit(Strict):
    display_name: str | None = Field(None, min_length=1, max_length=64)
    bio: str | None = Field(None, max_length=300, description="line breaks allowed, other control characters not")

    @field_validator("display_name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        plain_text(v)
        if not v.strip():
            raise ValueError("a display name cannot be blank")
        return v.strip()

    @field_validator("bio")
    @classmethod
    def _bio(cls, v: str | None) -> str | None:
        return None if v is None else plain_text(v, newlines=True)


class SignedUp(BaseModel):
    user: UserOut
    token: TokenOut


class DevTokenRequest(Strict):
    user_id: str | None = Field(None, pattern=USER_ID_PATTERN)
    handle: str | None = Field(None, pattern=HANDLE, description="gets or creates this user")


class ProfileItem(FeedItem):
    state: str | None = Field(None, description="in your own list only: the video's state (removed, too)")
    moderation: ModerationOut | None = Field(None, description="in your own list only, when not clear")


class VideoList(BaseModel):
    items: list[ProfileItem]
    next_cursor: str | None = None


# ----------------------------------------------------------------------------------------------- moderation
ReportReason = Literal["spam", "harassment", "hate", "violence", "nudity", "dangerous", "copyright", "other"]


class NewReport(Strict):
    reason: ReportReason
    note: str = Field("", max_length=500, description="anything the moderators should know")


class ReportOut(BaseModel):
    id: int
    target_kind: str
    target_id: str
    reason: str
    status: str = Field(description="open until a moderator acts on the target, then resolved")
    created_at: datetime
    duplicate: bool = Field(description="you had reported it already; nothing changed")


class QueueVideo(BaseModel):
    state: str
    moderation: str
    creator_id: str | None
    caption: str


class QueueItemOut(BaseModel):
    target_kind: str
    target_id: str
    reports: int = Field(description="open reports")
    reasons: dict[str, int] = Field(description="open reports per reason")
    first_reported_at: datetime
    last_reported_at: datetime
    video: QueueVideo | None = Field(None, description="for a video: where it stands")


class QueuePage(BaseModel):
    items: list[QueueItemOut]
    next_cursor: str | None = None


class VideoAction(Strict):
    action: Literal["approve", "restrict", "remove", "restore"]
    reason: str = Field(min_length=1, max_length=500, description="told to the creator on remove and restore")
    prohibit: bool = Field(False, description="remove only: also add the video's fingerprint to the "
                                              "prohibited-media list, so ingest refuses re-uploads of it")


class CommentAction(Strict):
    action: Literal["approve", "remove"]
    reason: str = Field(min_length=1, max_length=500)


class UserAction(Strict):
    action: Literal["approve"] = Field(description="dismiss the reports (act on their videos and comments "
                                                   "one by one)")
    reason: str = Field(min_length=1, max_length=500)


class ActionOut(BaseModel):
    id: int
    moderator_id: str | None
    target_kind: str
    target_id: str
    action: str
    reason: str
    previous_state: str | None = None
    previous_moderation: str | None = None
    created_at: datetime


class AuditPage(BaseModel):
    items: list[ActionOut]
    next_before: int | None = None


class NewAppeal(Strict):
    statement: str = Field(min_length=1, max_length=1000)


class AppealOut(BaseModel):
    id: int
    video_id: str
    creator_id: str
    statement: str
    status: str = Field(description="open, upheld or denied")
    created_at: datetime
    decided_at: datetime | None = None
    decision_reason: str | None = None


class AppealPage(BaseModel):
    items: list[AppealOut]
    next_after: int | None = None


class AppealDecision(Strict):
    decision: Literal["uphold", "deny"]
    reason: str = Field(min_length=1, max_length=500, description="told to the creator")


class Decided(BaseModel):
    appeal: AppealOut
    action: ActionOut


# ----------------------------------------------------------------------------------------------- social
class LikeState(BaseModel):
    video_id: str
    liked: bool
    likes: int


class FollowState(BaseModel):
    user_id: str
    following: bool


class BlockState(BaseModel):
    user_id: str
    blocked: bool


class NewComment(Strict):
    body: str = Field(min_length=1, max_length=500)
    parent_id: int | None = Field(None, ge=1, le=2**62, description="reply to this comment (of the same video)")
    reply_to: int | None = Field(None, ge=1, le=2**62, description="the same as parent_id (either may be sent)")

    @field_validator("reply_to")
    @classmethod
    def _one_parent(cls, v: int | None, info) -> int | None:
        parent = info.data.get("parent_id")
        if v is not None and parent is not None and parent != v:
            raise ValueError("parent_id and reply_to name different comments; send one")
        return v

    @property
    def parent(self) -> int | None:
        return self.parent_id or self.reply_to

    @field_validator("body")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a comment needs some text")
        return v


class CommentOut(BaseModel):
    id: int
    video_id: str
    user_id: str
    handle: str | None
    parent_id: int | None
    body: str
    created_at: datetime
    replies: int = 0


class CommentPage(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None = None


class NewShare(Strict):
    channel: str = Field("link", pattern=r"^[a-z_]{1,32}$")


class ShareOut(BaseModel):
    video_id: str
    shares: int


class NotInterestedIn(Strict):
    kind: Literal["creator", "tag"] = "creator"
    tag: str | None = Field(None, pattern=r"^#?[\w]{1,64}$", description="for kind=tag; default: all the video's tags")


class NotInterestedOut(BaseModel):
    video_id: str
    hidden_creators: list[str]
    hidden_tags: list[str]


# ----------------------------------------------------------------------------------------------- interactions
class InteractionIn(Strict):
    video_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    kind: Literal["view_start", "progress", "complete", "skip"]
    watch_ms: int | None = Field(None, ge=0, le=3_600_000,
                                 description="milliseconds watched since this video's previous event in the session")
    progress: float | None = Field(None, ge=0.0, le=1.0, description="position as a share of the duration")
    session_id: str | None = Field(None, pattern=r"^[0-9a-f]{1,32}$")


class InteractionBatch(Strict):
    events: list[InteractionIn] = Field(min_length=1, max_length=100)


class InteractionResult(BaseModel):
    accepted: int
    counted_views: int
    dropped: int = Field(description="events about videos that do not exist or the user may not see")
    durable: str = Field(description="where the events were logged")


class HourOut(BaseModel):
    hour: datetime
    views: int
    completions: int
    watch_ms: int


class AnalyticsOut(BaseModel):
    video_id: str
    views: int
    likes: int
    comments: int
    shares: int
    watch_ms_total: int
    completions: int
    completion_rate: float
    average_watch_ms: float
    hourly: list[HourOut]
    retention: list[float] = Field(default_factory=list, description="share of the last 48 hours' views still "
                                   "watching at 0 %, 10 %, ... 100 % of the video (11 points; from progress events)")
    retention_views: int = Field(0, description="the views (viewer and playback session) the curve is drawn from")


# ----------------------------------------------------------------------------------------------- notifications
class Actor(BaseModel):
    id: str
    handle: str | None = None


class NotificationOut(BaseModel):
    id: int
    kind: str = Field(description="new_follower, video_liked, video_commented, comment_replied; video_playable, "
                                  "video_rejected, video_failed, video_removed, video_restored, appeal_denied or "
                                  "comment_removed")
    actor: Actor | None = Field(None, description="who did it (None: the system)")
    video_id: str | None
    comment_id: int | None = Field(None, description="the new comment or reply (video_commented, comment_replied)")
    text: str = Field(description="a short sentence to show, e.g. \"@ana liked your video\"")
    detail: dict = Field(description="what the event said: playback_url and renditions, or code and reason, or "
                                     "the comment's first words")
    created_at: datetime
    read: bool


class UnreadCount(BaseModel):
    unread: int


class StreamToken(BaseModel):
    access_token: str = Field(description="for GET /v1/me/notifications/stream?access_token=...; valid on that "
                                          "route only")
    expires_in_s: int


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    unread: int = Field(description="all the user's unread notifications, not only this page's")
    next_before: int | None = Field(None, description="pass as `before` for the next (older) page")


class MarkRead(Strict):
    up_to_id: int = Field(ge=1, le=2**63 - 1, description="mark this notification and every older one read")


class MarkedRead(BaseModel):
    marked: int
    unread: int


# ----------------------------------------------------------------------------------------------- search
class UserHit(BaseModel):
    id: str
    handle: str
    display_name: str
    followers: int = Field(description="counted up to 10,000 (ranking needs no more)")


class HashtagHit(BaseModel):
    tag: str = Field(description="lower case, without #")
    videos: int = Field(description="discoverable videos carrying it (as of the dictionary's last refresh)")


class SoundHit(BaseModel):
    sound_id: str
    videos: int = Field(description="discoverable videos using it (as of the dictionary's last refresh)")


class Correction(BaseModel):
    word: str = Field(description="a word of the query that no indexed video uses")
    also_searched: list[str] = Field(description="the closest words that do, searched with it")


class SearchPage(BaseModel):
    type: Literal["videos", "users", "hashtags", "sounds"]
    query: str = Field(description="the query as searched: normalised (NFKC, lower case, single spaces)")
    items: list[FeedItem] | list[UserHit] | list[HashtagHit] | list[SoundHit] = Field(
        description="videos (feed items), users, hashtags or sounds, as `type` asked; best first")
    corrections: list[Correction] = Field(default_factory=list, description="videos: typo corrections applied")
    next_cursor: str | None = Field(None, description="opaque; pass it back with the same q and type")


class SuggestionOut(BaseModel):
    kind: Literal["query", "hashtag", "user"] = Field(description="a completed (or corrected) query, a hashtag "
                                                                  "(#tag) or a person (@handle)")
    text: str
    user_id: str | None = Field(None, description="for kind=user")
    videos: int | None = Field(None, description="for a query or hashtag: how many videos carry its last word")


class SuggestionList(BaseModel):
    query: str
    items: list[SuggestionOut]


# ----------------------------------------------------------------------------------------------- discover
class TrendingHashtag(BaseModel):
    tag: str
    score: float = Field(description="decayed engagement over the window: people x weight of what they did x "
                                     "2^(-age/half-life)")
    people: int = Field(description="distinct people who engaged with its videos in the window")


class TrendingSound(BaseModel):
    sound_id: str
    score: float
    people: int


class TrendingHashtags(BaseModel):
    region: str = Field(description="whose engagement counted: a region, or global (everyone)")
    window_hours: float
    items: list[TrendingHashtag]


class TrendingSounds(BaseModel):
    region: str
    window_hours: float
    items: list[TrendingSound]


class SuggestedCreator(BaseModel):
    id: str
    handle: str
    display_name: str
    reason: Literal["followed_by_people_you_follow", "popular", "popular_in_your_region", "posts_your_interests",
                    "trending_now"]
    followed_by_people_you_follow: int
    followers: int = Field(description="counted up to 10,000")


class SuggestedCreators(BaseModel):
    items: list[SuggestedCreator]


class RelatedVideos(BaseModel):
    video_id: str
    items: list[FeedItem]


# ------------------------------------------------------------------------------------------- errors (RFC 9457)
class FieldProblem(BaseModel):
    field: str = Field(description="the offending parameter or body field, dotted (\"\" for the request as a whole)")
    problem: str


class LegacyError(BaseModel):
    """The v1 error object, kept inside problem documents for existing clients."""

    code: str
    message: str
    details: list[FieldProblem] | SkipJsonSchema[None] = Field(None, description="on 422 from request validation")


class Problem(BaseModel):
    """An RFC 9457 problem details document (`application/problem+json`). Clients should ignore members
    they do not know: more extension members may come."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI reference naming the problem type: `/problems/{code}`, resolved against "
                                  "the API's origin", json_schema_extra={"format": "uri-reference"})
    title: str = Field(description="short summary of the problem type; the same for every occurrence of a code")
    status: int = Field(ge=400, le=599, description="the HTTP status code of this answer")
    detail: str = Field(description="what went wrong this time, as a sentence for people")
    instance: str = Field(description="the request path", json_schema_extra={"format": "uri-reference"})
    code: str = Field(description="stable machine-readable code; branch on this (or on `type`)")
    error: LegacyError = Field(description="the v1 error object (`code`, `message`), kept for existing clients")


class ValidationProblem(Problem):
    """A 422: the request's parameters or body are invalid; `errors` says where."""

    errors: list[FieldProblem] = Field(min_length=1)


# ----------------------------------------------------------------------------------------------- sounds
class SoundVideos(BaseModel):
    items: list[FeedItem]
    next_cursor: str | None = Field(None, description="pass to GET /v1/sounds/{id}/videos for the next page")


class SoundOut(BaseModel):
    id: str
    title: str
    kind: Literal["original", "library"]
    creator: Actor | None = None
    original_video_id: str | None = None
    audio_url: str | None = Field(None, description="the first 60 s of the sound, AAC in an .m4a, on the edge (None: "
                                                    "a library sound without audio)")
    duration_s: float | None = Field(None, description="of the clip")
    videos: int = Field(description="videos using it that anyone may find")
    reusable: bool
    created_at: datetime
    items: list[FeedItem] = Field(description="the first page of videos using it, in the order asked")
    next_cursor: str | None = None
