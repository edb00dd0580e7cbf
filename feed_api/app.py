"""``create_app()``: the ASGI application servers, tests and the stack import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import version

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from adapters import live_store
from adapters.edge_admin import Purger
from catalog import accounts
from catalog.db import session_scope
from config.settings import Settings, get_settings
from feed_api import (
    auth,
    discover,
    errors,
    feed,
    interactions,
    me,
    moderation,
    notification_stream,
    notifications,
    openapi,
    reports,
    search,
    social,
    sounds,
    status_stream,
    users,
    videos,
)
from feed_api.body_limit import BodyLimitMiddleware
from feed_api.live import REDIS_ERRORS
from feed_api.metrics import MetricsMiddleware, PipelineCollector
from feed_api.services import Services
from jobs import purge
from jobs.pipeline import Pipeline

log = logging.getLogger("feed_api")
HOUSEKEEPING_S = 30

DESCRIPTION = """Reelflow's API for phones and creators.

Authenticate with `Authorization: Bearer <access token>`. `POST /v1/auth/signup` (handle and password) and
`POST /v1/auth/login` answer an access token (a JWT, 15 minutes) and a refresh token (opaque, 30 days, single
use): `POST /v1/auth/refresh` exchanges the refresh token for a new pair, and a refresh token presented twice
revokes every token of its sign-in (`token_reused`). `POST /v1/auth/logout` ends one sign-in,
`POST /v1/auth/logout-all` every one, access tokens included; so does `POST /v1/me/password`. Wrong passwords
are rate-limited per account and per address (429 with Retry-After, even for a right password until it
passes). `POST /v1/users` (sign-up with an optional password) still works; `POST /v1/auth/dev-token` issues a
token in development only. See docs/accounts.md.

Errors are RFC 9457 problem details (`application/problem+json`): `type` is `/problems/{code}` (relative to
the API's origin), `title` is fixed per code, `status` repeats the HTTP status, `detail` says what went wrong,
`instance` is the request path, and `code` is the stable machine code to branch on. A 422 adds `errors`,
`[{"field", "problem"}]`. The `error` member (`{"code", "message"}`, plus `details` on request validation)
is the v1 error body, kept for existing clients."""


def _housekeeping_once(svc: Services) -> None:
    purge.process_pending(svc.sessions, svc.origin, svc.purger)
    with session_scope(svc.sessions) as s:  # refresh tokens expired a day ago or more: nothing checks them
        accounts.prune_refresh_tokens(s)
    if svc.live.up:  # counters wait in Redis while it is down; nothing to flush from here then
        try:
            live_store.flush_counters(svc.live.sync, svc.live.keys, lambda: session_scope(svc.sessions))
        except REDIS_ERRORS as exc:
            svc.live.failed(exc)


async def _housekeeping(svc: Services) -> None:
    """Now and then: retry pending purges (edge was down) and flush live counters into PostgreSQL. Safe with
    several API processes (origin removal and purges are idempotent, counter deltas are taken atomically); the
    recommendation DAGs may call the same functions on a schedule."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_S)
        try:
            await run_in_threadpool(_housekeeping_once, svc)
        except Exception:  # the loop must outlive a database hiccup
            log.exception("housekeeping failed")


def create_app(settings: Settings | None = None, *, pipeline: Pipeline | None = None,
               purger: Purger | None = None) -> FastAPI:
    settings = settings or get_settings()
    svc = Services.from_settings(settings, pipeline, purger)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_housekeeping(svc))
        if svc.model_ranker is not None:
            svc.model_ranker.start()
        try:
            yield
        finally:
            if svc.model_ranker is not None:
                svc.model_ranker.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await svc.live.aclose()
            svc.sessions.kw["bind"].dispose()

    app = FastAPI(title="Reelflow API", version=version("reelflow"), description=DESCRIPTION, lifespan=lifespan)
    app.state.services = svc
    errors.install(app)
    openapi.install(app)

    for module in (auth, users, me, feed, search, discover, videos, status_stream, social, interactions,
                   notifications, notification_stream, sounds, reports, moderation):
        app.include_router(module.router)
    app.include_router(videos.studio_router)
    # Innermost: GET /v1/feed answered past the router (feed_api.feed.FeedFastPath).
    app.add_middleware(feed.FeedFastPath)
    # Outside routing and auth, inside the metrics (which count the 413s like any answer).
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes,
                       larger={("PUT", me.AVATAR_PATH): settings.max_avatar_bytes})
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    app.add_route("/metrics", svc.metrics.endpoint, include_in_schema=False)
    svc.metrics.registry.register(PipelineCollector(svc.sessions))  # pipeline figures from the catalog

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
