"""The API's collaborators, built once from the settings and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from catalog.db import make_engine, make_sessionmaker
from delivery.origin import OriginConfig, OriginStore
from feed_api.airflow_client import AirflowClient
from feed_api.pipeline import AirflowPipeline, Pipeline
from reelflow.settings import Settings


@dataclass
class Services:
    sessions: sessionmaker[Session]
    store: OriginStore
    pipeline: Pipeline
    raw_bucket: str
    presign_expiry_s: int
    max_upload_bytes: int
    playback_base: str  # edge URL + bucket, without trailing slash

    def playback_url(self, master_key: str) -> str:
        return f"{self.playback_base}/{master_key}"

    @classmethod
    def from_settings(cls, settings: Settings, pipeline: Pipeline | None = None) -> Services:
        store = OriginStore(OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                                         settings.s3_region))
        if pipeline is None:
            pipeline = AirflowPipeline(AirflowClient(settings.airflow_url, settings.airflow_user,
                                                     settings.airflow_password))
        return cls(
            sessions=make_sessionmaker(make_engine(settings.database_url, pool_size=5, max_overflow=5)),
            store=store, pipeline=pipeline, raw_bucket=settings.raw_bucket,
            presign_expiry_s=settings.presign_expiry_s, max_upload_bytes=settings.max_upload_bytes,
            playback_base=f"{settings.edge_public_url.rstrip('/')}/{settings.vod_bucket}",
        )


def services(request: Request) -> Services:
    return request.app.state.services
