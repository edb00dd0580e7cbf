"""The one settings object. Only the shells (CLI, stack, DAGs, API) read it; cores get plain values."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from media.codecs import Codec, parse_codec, parse_codecs
from media.ladder import LadderConfig
from media.limits import Limits
from media.screen_policy import WEAPON_CLASSES, ScreenPolicy

# The media core owns what an upload may be; settings only let an operator override its defaults.
_LIMITS = Limits()

REPO_ROOT = Path(__file__).resolve().parent.parent


DEV_API_SECRET = "reelflow-dev-secret-change-me-in-production"  # published in this repository
MIN_API_SECRET_CHARS = 32


def insecure_api_settings(settings: Settings) -> str | None:
    """Why an API with these settings would let anyone forge tokens, or None. With development auth on,
    tokens are free for the asking anyway, so only a production configuration is held to this."""
    if settings.dev_auth:
        return None
    if settings.api_secret == DEV_API_SECRET:
        return ("REELFLOW_API_SECRET is the default published in Reelflow's repository: anyone can sign tokens "
                "with it; set a random secret of at least 32 characters (or REELFLOW_DEV_AUTH=true for development)")
    if len(settings.api_secret) < MIN_API_SECRET_CHARS:
        return f"REELFLOW_API_SECRET is {len(settings.api_secret)} characters; use at least {MIN_API_SECRET_CHARS}"
    return None


class Settings(BaseSettings):
    """Every knob, overridable as ``REELFLOW_<NAME>`` (nested lists as JSON, e.g. ``[360,720]``)."""

    model_config = SettingsConfigDict(env_prefix="REELFLOW_", env_file=".env", extra="ignore")

    # Where the local stack keeps state, logs and pid files.
    home: Path = Field(default_factory=lambda: Path.home() / ".reelflow")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/reelflow"
    airflow_database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/reelflow_airflow"
    redis_url: str = "redis://127.0.0.1:6379/0"

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_access_key: str = "reelflow"
    s3_secret_key: str = "reelflow-dev-secret"
    s3_region: str = "us-east-1"
    raw_bucket: str = "raw"
    vod_bucket: str = "vod"
    # Storage tiering (jobs/tiering.py): renditions unwatched for cold_after_days move here; the edge
    # reads it as a slower origin and moves a video back on its first request.
    cold_bucket: str = "vod-cold"
    cold_after_days: int = Field(default=30, ge=1)
    presign_expiry_s: int = 3600
    max_upload_bytes: int = _LIMITS.max_bytes
    # Uploads declared larger than this go up in parts (S3 multipart, resumable); smaller ones in one PUT.
    multipart_threshold_bytes: int = Field(default=16 * 2**20, ge=1)
    # S3 wants every part but the last to be at least 5 MiB; more than 10,000 parts grows the part size.
    multipart_part_bytes: int = Field(default=8 * 2**20, ge=5 * 2**20, le=5 * 2**30)
    # upload_lifecycle aborts multipart uploads started longer ago than this; their videos fail as upload_abandoned.
    upload_abandon_after_s: int = Field(default=24 * 3600, ge=3600)
    # upload_lifecycle deletes the raw file of a failed (or rejected) video this long after it failed: a week for
    # operators to re-run it (`reelflow retry`); a deleted video's raw file goes at once.
    raw_retention_s: int = Field(default=7 * 86400, ge=0)

    airflow_url: str = "http://127.0.0.1:8080"
    airflow_user: str = "admin"
    airflow_password: str = "reelflow"
    airflow_parallelism: int = 4

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Signs access tokens (JWT HS256) and feed cursors (HMAC). The default is published: the API refuses to
    # start with it unless development auth is on, and the local stack generates one per home instead.
    api_secret: str = DEV_API_SECRET
    # Accounts (docs/accounts.md): access tokens are short-lived JWTs; refresh tokens are opaque, stored hashed,
    # rotated on every use. A stolen access token works until it expires or its user signs out everywhere.
    token_ttl_s: int = Field(default=15 * 60, ge=60, le=7 * 86400)
    refresh_token_ttl_s: int = Field(default=30 * 86400, ge=3600)
    # How long an API process trusts its own copy of a user's session version (the ``sv`` claim's reference)
    # before asking Redis again: a sign-out everywhere reaches other processes within this many seconds.
    session_cache_s: float = Field(default=2.0, ge=0, le=60)
    # POST /v1/auth/dev-token issues a token for any user id or handle: anyone becomes anyone. Off unless asked
    # for; `reelflow stack up` turns it on for the local stack it starts (unless REELFLOW_DEV_AUTH says no).
    dev_auth: bool = False
    redis_prefix: str = "rf:"  # every live key (adapters/live_store.py) starts with it
    rate_limit_per_s: float = 20.0  # per user, GCRA in Redis; fails open while Redis is down
    rate_limit_burst: int = 60
    # Budgets per class of request (feed_api.rate_limits), each with its own Redis keys so one cannot eat
    # another's: a comment flood leaves reads alone. Human scale: a person signs up once, and comments,
    # follows or likes at the speed of thumbs. Sign-up and dev-token share one budget per client IP.
    signup_limit_per_min: float = Field(default=6.0, gt=0)  # a sign-up every 10 s per IP after the burst
    signup_limit_burst: int = Field(default=5, ge=1)
    comment_limit_per_min: float = Field(default=20.0, gt=0)  # a comment every 3 s per account
    comment_limit_burst: int = Field(default=5, ge=1)
    follow_limit_per_min: float = Field(default=30.0, gt=0)  # follows and unfollows, per account
    follow_limit_burst: int = Field(default=20, ge=1)
    reaction_limit_per_min: float = Field(default=60.0, gt=0)  # likes, unlikes and shares, per account
    reaction_limit_burst: int = Field(default=30, ge=1)
    report_limit_per_min: float = Field(default=10.0, gt=0)  # reports on videos, comments and users, per account
    report_limit_burst: int = Field(default=5, ge=1)
    # Failed sign-ins (wrong password, unknown handle), per account (the handle tried) and per client IP. A
    # spent budget refuses every attempt, a correct password too, until it refills; a success gives its
    # attempt back. Per account: 5 tries, then one a minute; per IP: 20, then one every 6 s.
    login_account_limit_per_min: float = Field(default=1.0, gt=0)
    login_account_limit_burst: int = Field(default=5, ge=1)
    login_ip_limit_per_min: float = Field(default=10.0, gt=0)
    login_ip_limit_burst: int = Field(default=20, ge=1)
    # PUT /v1/me/avatar takes an image as its body: the one route allowed past max_request_body_bytes.
    max_avatar_bytes: int = Field(default=5 * 2**20, ge=64 * 2**10)
    # Every request body is small JSON (video files go straight to S3): the largest valid one, a 2,200-character
    # caption and 30 hashtags of 64 characters all written as \u escapes, is about 50 KiB. A body over this
    # limit is refused with 413 before routing and auth, without being read (feed_api.body_limit).
    max_request_body_bytes: int = Field(default=128 * 2**10, ge=4 * 2**10)
    feed_page_size: int = 10
    # For You ranking with the trained ranker (registry "ranker" + the two-tower version it names), blended
    # with the light ranker (recommend.blended_ranking); the light ranker alone when off, when no model is
    # loaded, or when the user has no vector of that two-tower version. Models load in a background thread
    # that re-reads the registry pointer every feed_ranker_check_s.
    feed_ranker: bool = True
    feed_ranker_check_s: float = Field(default=60.0, gt=0)
    feed_ranker_weight: float = Field(default=1.5, ge=0)
    # Moderation. A video reported by this many distinct users is held for review (out of For You, trending,
    # hashtag and sound feeds until a moderator approves it); 0: never held by reports.
    moderation_review_reports: int = Field(default=3, ge=0)
    # Limited exposure of new uploads in For You (recommend.exposure): until a video has exposure_min_views
    # views with at most exposure_max_reports reports, For You shows it to its creator and to a stable
    # exposure_sample_share of viewers only. exposure_min_views 0 turns it off. Keep exposure_max_reports below
    # moderation_review_reports: a report or two must not demote a video more than a review hold does.
    exposure_min_views: int = Field(default=100, ge=0)
    # Content screening at ingest (media.content_screen), on the embedding's forward pass: ImageNet-1k class
    # index -> label of what holds a video for review (weapons by default; {} turns it off), and how sure and
    # how often it must be seen.
    screen_classes: dict[int, str] = Field(default_factory=lambda: dict(WEAPON_CLASSES))
    screen_min_probability: float = Field(default=0.5, gt=0, le=1)
    screen_min_frames: int = Field(default=2, ge=1)
    exposure_max_reports: int = Field(default=2, ge=0)
    exposure_sample_share: float = Field(default=0.1, ge=0.0, le=1.0)
    edge_admin_url: str = ""  # where POST /admin/purge/{video} goes; default http://edge_host:edge_port
    # Bearer token of the edge's /admin API, sent by the API's purges. Set: every admin call needs it, from
    # any peer (loopback too: in containers loopback proves nothing). Empty: the edge answers loopback only.
    edge_admin_token: str = ""
    # Signs playback URLs of private and followers-only videos (cdn_sim.playback_tokens); the API signs, the
    # edge verifies, so both need it. Comma-separated to rotate: the first signs, every one verifies. Empty:
    # derived from api_secret (one secret for a single host; give the edge its own so it never holds the API's).
    playback_secret: str = ""
    playback_token_ttl_s: int = Field(default=3600, ge=60, le=7 * 86400)

    edge_host: str = "127.0.0.1"
    edge_port: int = 8443  # UDP for HTTP/3 and TCP for the Alt-Svc listener share the number
    edge_public_url: str = "https://localhost:8443"
    edge_cache_bytes: int = 512 * 1024 * 1024  # each POP's edge tier
    # The live tier chain (cdn_sim.cdn): one regional tier per region, one origin shield, all in the edge process.
    edge_regional_cache_bytes: int = 1024 * 1024 * 1024
    edge_shield_cache_bytes: int = 2048 * 1024 * 1024
    # Eviction at the regional and shield tiers (cdn_sim.cache.make_cache); S3-FIFO led LRU by 4 points at the
    # edge in the simulator.
    edge_cache_policy: Literal["lru", "sieve", "s3fifo", "vfreq"] = "s3fifo"
    # Eviction and admission at the POPs' edge tiers: video-frequency (cdn_sim.vfreq) led every libCacheSim
    # policy on byte hit ratio at the edge on both simulator workloads (docs/benchmarks.md).
    edge_tier_policy: Literal["lru", "sieve", "s3fifo", "vfreq"] = "vfreq"
    edge_default_region: str = "eu"  # clients that send no x-client-region / ?region= hint
    # Where the edge forwards /v1/... (the web app's API on its own origin); default the API's api_url.
    edge_api_upstream: str = ""

    # Upload limits (media.limits.Limits, see upload_limits); max_upload_bytes above is the size limit.
    min_duration_s: float = _LIMITS.min_duration_s
    max_duration_s: float = _LIMITS.max_duration_s
    min_side: int = _LIMITS.min_side
    max_side: int = _LIMITS.max_side
    min_fps: float = _LIMITS.min_fps
    max_fps: float = _LIMITS.max_fps
    max_decode_error_share: float = _LIMITS.max_error_share
    # "reject": a near-copy of a published video fails as `duplicate`; "link": it is published, linked.
    dedup_policy: Literal["reject", "link"] = "reject"

    ladder_short_sides: list[int] = [360, 480, 720, 1080]
    # Codecs encoded for every video (h264, hevc, av1), each by its own Airflow task; on two cores the
    # default adds AV1 (SVT-AV1, fast) up to 720p beside the full H.264 ladder. HEVC is opt-in.
    codecs: list[Codec] = [Codec.H264, Codec.AV1]
    codec_max_short_side: dict[Codec, int] = {Codec.HEVC: 720, Codec.AV1: 720}
    # Progressive publish: the H.264 rungs up to this short side are encoded first, alone, and published as
    # the playable stage; the rest of the ladder and the other codecs follow and join by the switch to the
    # full master. On 2 cores a 20 s 1080p clip's 360p+480p H.264 take about 9 s, the whole H.264 ladder
    # about 29 s. 0 turns the stage off (the full ladder is the first publication).
    playable_max_short_side: int = Field(default=480, ge=0)
    allow_gpu_encoders: bool = True  # NVENC where it opens; software otherwise
    # Slots of the Airflow pool NVENC transcodes queue in: concurrent encode sessions the GPU allows.
    gpu_pool_slots: int = Field(default=2, ge=1)
    # Celery queue of NVENC transcodes (a GPU worker runs `airflow celery worker -q gpu`); "default" is
    # Airflow's own default queue, so the LocalExecutor stack is unaffected.
    gpu_queue: str = "default"
    # With a dedicated GPU queue the NVENC probe cannot run where the plan is made (a CPU worker), so the
    # codecs sent to the GPU queue are declared; the GPU worker still falls back to software if NVENC fails.
    gpu_codecs: list[Codec] = [Codec.H264, Codec.HEVC]
    # A re-run's superseded publication is deleted from the origin this long after the switch: players that
    # loaded the old master keep fetching its segments for a while (videos are at most max_duration_s long).
    superseded_grace_s: int = Field(default=3600, ge=0)
    # How often a re-ladder batch's chunk looks at its ingest runs and starts more (seconds); between looks
    # it is deferred (no worker slot). Keep it well above the executor's few seconds of lag in reporting a
    # finished task process: a task queued again before that report arrives is failed into a retry
    # (apache/airflow#71172; the retry resumes, but costs its delay).
    reladder_poke_s: float = Field(default=30.0, gt=0)
    # "pyav": in process (default). "ffmpeg": the ffmpeg binary via ffmpeg-python, full-GPU (CUDA decode,
    # scale_cuda, NVENC) when the codec's NVENC encoder opens on this host.
    transcode_engine: Literal["pyav", "ffmpeg"] = "pyav"
    segment_seconds: float = 2.0
    x264_preset: str = "veryfast"
    x264_crf: int = 23
    work_dir: Path | None = None  # transcode scratch space; defaults under home
    # Where one ingest step's outputs (renditions, thumbnails, the scan's samples) reach the next step.
    # "local": the shared work_dir only (one host, LocalExecutor). "s3": each step also uploads what it made
    # to staging_bucket under staging/<video>/<publication>/, and fetches what it needs that is not local,
    # so every task may run on another machine (Celery workers on several hosts).
    staging: Literal["local", "s3"] = "local"
    staging_bucket: str = ""  # empty: the raw bucket (the application's key may already write there)
    # publication_gc deletes staging prefixes untouched this long (runs that died before their cleanup).
    staging_max_age_s: int = Field(default=2 * 86400, ge=3600)

    @field_validator("ladder_short_sides")
    @classmethod
    def _sides_positive(cls, v: list[int]) -> list[int]:
        if not v or any(s < 16 for s in v):
            raise ValueError("ladder_short_sides must list rung short sides of at least 16 pixels")
        return sorted(set(v))

    @field_validator("codecs", "gpu_codecs", mode="before")
    @classmethod
    def _codecs_known(cls, v: object) -> list[Codec]:
        return list(parse_codecs(v))  # type: ignore[arg-type]  # a str or a list; anything else is refused there

    @field_validator("codec_max_short_side", mode="before")
    @classmethod
    def _codec_keys_known(cls, v: object) -> object:
        return {parse_codec(k): side for k, side in v.items()} if isinstance(v, dict) else v

    @field_validator("edge_admin_token")
    @classmethod
    def _admin_token_usable(cls, v: str) -> str:
        from cdn_sim.http import check_admin_token  # the edge's own rule, so both refuse the same tokens

        return check_admin_token(v) if v else v

    @field_validator("playback_secret")
    @classmethod
    def _playback_secret_usable(cls, v: str) -> str:
        from cdn_sim.playback_tokens import MIN_KEY_BYTES

        if v and any(len(part.strip()) < MIN_KEY_BYTES for part in v.split(",")):
            raise ValueError(f"every playback secret must be at least {MIN_KEY_BYTES} characters")
        return v

    @field_validator("segment_seconds")
    @classmethod
    def _segment_sane(cls, v: float) -> float:
        if not 0.5 <= v <= 10:
            raise ValueError("segment_seconds must be between 0.5 and 10")
        return v

    @property
    def screen_policy(self) -> ScreenPolicy:
        return ScreenPolicy(classes=self.screen_classes, min_probability=self.screen_min_probability,
                            min_frames=self.screen_min_frames)

    @property
    def upload_limits(self) -> Limits:
        return Limits(min_duration_s=self.min_duration_s, max_duration_s=self.max_duration_s,
                      max_bytes=self.max_upload_bytes, min_side=self.min_side, max_side=self.max_side,
                      min_fps=self.min_fps, max_fps=self.max_fps, max_error_share=self.max_decode_error_share)

    @property
    def ladder(self) -> LadderConfig:
        return LadderConfig(short_sides=tuple(self.ladder_short_sides), segment_seconds=self.segment_seconds)

    @property
    def scratch_dir(self) -> Path:
        return self.work_dir or self.home / "work"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def playback_keys(self) -> list[bytes]:
        """The signing keys of playback URLs: REELFLOW_PLAYBACK_SECRET's, or one derived from the API secret."""
        if self.playback_secret:
            return [part.strip().encode() for part in self.playback_secret.split(",")]
        return [hmac.new(self.api_secret.encode(), b"reelflow playback url v1", hashlib.sha256).digest()]

    def playback_url(self, master_key: str) -> str:
        return f"{self.edge_public_url.rstrip('/')}/{self.vod_bucket}/{master_key}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
