"""The service clients every shell builds from the settings: catalog sessions, the S3 origin (and its multipart
uploads), Redis, Airflow's REST API.

One place for "settings in, client out", cached per URL so the tasks of one worker process share their
connection pools. Light on purpose: the DAG tasks, CLIs and jobs import it without the media stack or
TensorFlow (``jobs.ingest`` pulls in the first, ``jobs.recsys`` may pull in the second).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from adapters.s3 import OriginConfig, OriginStore
from catalog.db import make_engine, make_sessionmaker
from config.settings import Settings

if TYPE_CHECKING:
    import redis

    from adapters.airflow_api import AirflowClient
    from adapters.edge_admin import EdgePurger, EdgePusher
    from adapters.s3_multipart import MultipartStore


@lru_cache(maxsize=4)
def _sessions(url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(url, pool_size=2, max_overflow=2))


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    import redis  # ~0.5 s (with its OpenTelemetry hooks) that every ingest task process would pay unused

    return redis.Redis.from_url(url)


def sessions(settings: Settings) -> sessionmaker[Session]:
    return _sessions(settings.database_url)


def forget_sessions(settings: Settings) -> None:
    """Dispose of the catalog engine for ``settings`` (before its database is dropped, e.g. in tests)."""
    sessions(settings).kw["bind"].dispose()
    _sessions.cache_clear()


def redis_client(settings: Settings) -> redis.Redis:
    return _redis(settings.redis_url)


def origin_config(settings: Settings) -> OriginConfig:
    return OriginConfig(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region)


def origin_store(settings: Settings) -> OriginStore:
    return OriginStore(origin_config(settings))


def multipart_store(settings: Settings) -> MultipartStore:
    """The origin's multipart uploads (presigned parts, list, complete, abort), over the same endpoint and keys."""
    from adapters.s3_multipart import MultipartStore  # boto3: ~0.3 s that only the API and the lifecycle DAG pay

    return MultipartStore(origin_config(settings))


def airflow_client(settings: Settings) -> AirflowClient:
    """Airflow's REST API as the configured user (the CLI's re-runs, the re-ladder batch's triggers)."""
    from adapters.airflow_api import AirflowClient  # httpx: only the shells that talk to Airflow pay it

    return AirflowClient(settings.airflow_url, settings.airflow_user, settings.airflow_password)


def edge_purger(settings: Settings) -> EdgePurger:
    """The edge's admin API (the API's deletes, ``reelflow purge``); default: the edge's own host and port."""
    from adapters.edge_admin import EdgePurger  # httpx, as above

    return EdgePurger(settings.edge_admin_url or f"http://{settings.edge_host}:{settings.edge_port}",
                      token=settings.edge_admin_token)


def edge_pusher(settings: Settings) -> EdgePusher:
    """The edge's admin push (the pre-warming DAG); same address and token as :func:`edge_purger`."""
    from adapters.edge_admin import EdgePusher  # httpx, as above

    return EdgePusher(settings.edge_admin_url or f"http://{settings.edge_host}:{settings.edge_port}",
                      token=settings.edge_admin_token)
