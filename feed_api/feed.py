"""``GET /v1/feed``: the page phones scroll. The work is in :mod:`feed_api.feed_service`.

This is the hottest route, so it skips FastAPI's per-request dependency and parameter machinery (about a
third of the route's CPU when measured): the query is one Pydantic model validated in one call, the bearer
token is read directly, and the OpenAPI description is generated from the same model, so the spec and
the validation cannot drift apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from feed_api.deps import required_user
from feed_api.errors import ApiError
from feed_api.feed_service import feed_page
from feed_api.schemas import REGION, SOUND_ID, FeedPage
from feed_api.services import Services

router = APIRouter(prefix="/v1", tags=["feed"])
PATH = "/v1/feed"
# Pages being served at once in this process. Beyond it the request is shed (503 + Retry-After) rather than
# queued: at ~1.2 ms of CPU a page, 128 waiting is already ~150 ms of queue.
MAX_IN_FLIGHT = 128


class FeedQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["for_you", "following", "trending", "hashtag", "sound"] = "for_you"
    cursor: str | None = Field(None, max_length=4096, description="next_cursor of the previous page")
    limit: int | None = Field(None, ge=1, le=50, description="items per page (default: the server's)")
    tag: str | None = Field(None, pattern=r"^#?\w{1,64}$", description="for type=hashtag")
    sound_id: str | None = Field(None, pattern=SOUND_ID, description="for type=sound")
    region: str | None = Field(None, pattern=REGION, description="for type=trending (default: yours)")


def _parameters() -> list[dict]:
    props = FeedQuery.model_json_schema()["properties"]
    out = []
    for name, schema in props.items():
        schema = dict(schema)
        description = schema.pop("description", None)
        schema.pop("title", None)
        param = {"name": name, "in": "query", "required": False, "schema": schema}
        if description:
            param["description"] = description
        out.append(param)
    return out


# Listed in full: this route reads the token itself, so feed_api.openapi finds no auth dependency to go by.
ERRORS = {400: {"description": "tampered or foreign cursor"}, 401: {"description": "no or bad token"},
          422: {"description": "invalid parameters"}, 429: {"description": "rate limited"},
          503: {"description": "overloaded; retry after Retry-After"}}


@router.get("/feed", response_model=FeedPage, responses=ERRORS,
            openapi_extra={"parameters": _parameters(), "security": [{"HTTPBearer": []}]})
async def get_feed(request: Request) -> Response:
    """A page of a feed: videos with metadata, author, stats, poster and playback URL on the edge, prefetch
    hints, and ``next_cursor``. A feed session (followed through the cursors) never shows a video twice."""
    body = await serve(request.app.state.services, request.headers.get("authorization"), request.query_params)
    return Response(body, media_type="application/json")


async def serve(svc: Services, authorization: str | None, params: Mapping[str, str]) -> bytes:
    """The page's JSON; ApiError (and what the app's handlers map) on failure."""
    user = await required_user(svc, authorization)
    try:
        q = FeedQuery.model_validate(params)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc
    if svc.feed_in_flight >= MAX_IN_FLIGHT:
        svc.metrics.fallbacks.labels("shed").inc()
        raise ApiError(503, "overloaded", "the service is busy; retry in a second", headers={"Retry-After": "1"})
    svc.feed_in_flight += 1
    try:
        page = await feed_page(svc, user, q.type, q.cursor or None, q.limit or svc.page_size, tag=q.tag,
                               sound_id=q.sound_id, region=q.region)
    finally:
        svc.feed_in_flight -= 1
    # The items are JSON already (the cards' cached bytes): concatenate, skip response-model validation.
    return page.to_json()


class FeedFastPath:
    """Pure ASGI middleware that answers ``GET /v1/feed`` itself, past FastAPI's router, its exception
    middleware and the per-request ``Request``/``Response`` objects (a tenth of a page's CPU when profiled).
    Errors go through the application's own exception handlers, so they are the same problem documents as
    everywhere; the route stays registered for the OpenAPI document (and serves HEAD). Installed inside the
    metrics and body-limit middleware, and tells the metrics its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: object | None = None

    def _feed_route(self, app: Starlette) -> object:
        if self._route is None:
            self._route = next(r for r in app.routes if getattr(r, "path", None) == PATH)
        return self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        scope["route"] = self._feed_route(app)
        auth = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value.decode("latin-1")
                break
        try:
            body = await serve(app.state.services, auth, QueryParams(scope["query_string"].decode("latin-1")))
        except Exception as exc:
            handler = _handler(app, exc)
            if handler is None:
                raise  # ServerErrorMiddleware answers 500
            request = Request(scope, receive)
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _handler(app: Starlette, exc: Exception):
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers and cls is not Exception:
            return handlers[cls]
    return None
