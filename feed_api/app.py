"""``create_app()``: the ASGI application servers, tests and the stack import."""

from __future__ import annotations

from fastapi import FastAPI

from feed_api import errors
from feed_api.pipeline import Pipeline
from feed_api.services import Services
from feed_api.videos import router as videos_router
from reelflow import __version__
from reelflow.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, pipeline: Pipeline | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="Reelflow API", version=__version__)
    app.state.services = Services.from_settings(settings, pipeline)
    errors.install(app)
    app.include_router(videos_router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
