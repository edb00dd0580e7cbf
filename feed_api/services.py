"""The API's collaborators, built once from the settings and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from adapters.edge_admin import Purger
from adapters.model_registry import ModelRegistry
from adapters.s3 import OriginStore
from adapters.s3_multipart import MultipartStore
from catalog.db import make_engine, make_sessionmaker
from catalog.passwords import Passwords
from cdn_sim.playback_tokens import PlaybackSigner
from config.clients import airflow_client, edge_purger, multipart_store, origin_store
from config.settings import Settings, insecure_api_settings
from feed_api.cursor import CursorCodec
from feed_api.live import Live
from feed_api.metrics import Metrics
from feed_api.ranker_loader import ModelRanker
from feed_api.rate_limits import Budget, Rate, rates_from
from feed_api.session_versions import SessionVersions
from feed_api.tokens import TokenSigner
from jobs.pipeline import AirflowPipeline, Pipeline
from jobs.purge import OriginTarget
from recommend.exposure import ExposureRule


class InsecureSettings(RuntimeError):
    """The API's settings would let anyone forge tokens; it refuses to start."""


@dataclass
class Services:
    sessions: sessionmaker[Session]
    store: OriginStore
    pipeline: Pipeline
    raw_bucket: str
    vod_bucket: str
    cold_bucket: str
    presign_expiry_s: int
    max_upload_bytes: int
    multipart: MultipartStore
    multipart_threshold_bytes: int
    multipart_part_bytes: int
    playback_base: str  # edge URL + bucket, without trailing slash
    edge_url: str  # the edge's public URL, without trailing slash
    playback: PlaybackSigner  # tokens for private and followers-only videos' URLs
    live: Live
    purger: Purger
    tokens: TokenSigner
    cursors: CursorCodec
    dev_auth: bool
    rates: dict[Budget, Rate]  # the general budget and each class's (feed_api.rate_limits)
    page_size: int
    metrics: Metrics = field(default_factory=Metrics)
    pg_trending: dict = field(default_factory=dict)  # the Redis-down fallback's per-minute trending order
    discovery: dict = field(default_factory=dict)  # trending terms and related lists, briefly (feed_api.discover)
    feed_in_flight: int = 0  # feed pages being served now (admission control in feed_api.feed)
    model_ranker: ModelRanker | None = None  # the trained For You ranker; None when settings turn it off
    exposure: ExposureRule = field(default_factory=ExposureRule)  # limited exposure of new uploads in For You
    review_reports: int = 3  # distinct reporters that hold a video for review (0: never)
    passwords: Passwords = field(default_factory=Passwords)  # argon2id (catalog.passwords)
    refresh_ttl_s: int = 30 * 86400
    session_versions: SessionVersions | None = None  # built in from_settings (needs live and sessions)
    max_avatar_bytes: int = 5 * 2**20

    @property
    def versions(self) -> SessionVersions:
        assert self.session_versions is not None
        return self.session_versions

    def avatar_url(self, key: str | None) -> str | None:
        """An avatar's edge URL (public, like a public video's poster); None without one."""
        return f"{self.playback_base}/{key}" if key else None

    def playback_url(self, key: str, *, signed: bool = False) -> str:
        """The edge URL of one of a video's objects (``v/<video>/...``); ``signed``: with a playback token for
        that video in the path, as a private or followers-only video needs (the edge refuses it without)."""
        if not signed:
            return f"{self.playback_base}/{key}"
        return self.edge_url + self.playback.signed_path(f"{self.vod_bucket}/{key}", key.split("/")[1])

    def signed_base(self, video_id: str) -> str:
        """``{edge}/t/<token>/{bucket}``: one token for all of a video's URLs in one response (they must agree:
        a player matches a prefetch hint's playlist URL against the ones its master names)."""
        return self.edge_url + self.playback.signed_path(self.vod_bucket, video_id)

    @property
    def origin(self) -> OriginTarget:
        return OriginTarget(self.store, self.raw_bucket, self.vod_bucket, self.cold_bucket)

    @classmethod
    def from_settings(cls, settings: Settings, pipeline: Pipeline | None = None,
                      purger: Purger | None = None) -> Services:
        insecure = insecure_api_settings(settings)
        if insecure is not None:
            raise InsecureSettings(f"the API will not start: {insecure}")
        store = origin_store(settings)
        if pipeline is None:
            pipeline = AirflowPipeline(airflow_client(settings))
        if purger is None:
            purger = edge_purger(settings)
        svc = cls(
            sessions=make_sessionmaker(make_engine(settings.database_url, pool_size=8, max_overflow=8)),
            store=store, pipeline=pipeline, raw_bucket=settings.raw_bucket, vod_bucket=settings.vod_bucket,
            cold_bucket=settings.cold_bucket,
            presign_expiry_s=settings.presign_expiry_s, max_upload_bytes=settings.max_upload_bytes,
            multipart=multipart_store(settings), multipart_threshold_bytes=settings.multipart_threshold_bytes,
            multipart_part_bytes=settings.multipart_part_bytes,
            playback_base=f"{settings.edge_public_url.rstrip('/')}/{settings.vod_bucket}",
            edge_url=settings.edge_public_url.rstrip("/"),
            playback=PlaybackSigner(settings.playback_keys, settings.playback_token_ttl_s),
            live=Live(settings.redis_url, settings.redis_prefix), purger=purger,
            tokens=TokenSigner(settings.api_secret, settings.token_ttl_s), cursors=CursorCodec(settings.api_secret),
            dev_auth=settings.dev_auth, rates=rates_from(settings),
            page_size=settings.feed_page_size,
            exposure=ExposureRule(settings.exposure_min_views, settings.exposure_max_reports,
                                  settings.exposure_sample_share),
            review_reports=settings.moderation_review_reports,
            refresh_ttl_s=settings.refresh_token_ttl_s, max_avatar_bytes=settings.max_avatar_bytes,
        )
        svc.session_versions = SessionVersions(svc.live, svc.sessions, cache_s=settings.session_cache_s)
        if settings.feed_ranker:  # loads nothing yet: the app's lifespan starts its background thread
            svc.model_ranker = ModelRanker(ModelRegistry(store), settings.home / "models", svc.metrics,
                                           check_s=settings.feed_ranker_check_s, weight=settings.feed_ranker_weight)
        return svc


def services(request: Request) -> Services:
    return request.app.state.services
