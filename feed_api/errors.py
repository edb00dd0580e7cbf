"""Every failure answers an RFC 9457 problem details document (``application/problem+json``).

``type`` is ``/problems/{code}``, a reference relative to the API's origin; ``title`` is fixed per code;
``instance`` is the request path. The extension members are ``code`` (the stable machine code), ``errors``
on 422 (``[{field, problem}]``) and ``error`` (``{"code", "message"[, "details"]}``), the v1 body that
existing clients read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.s3 import STORAGE_DOWN
from adapters.s3_multipart import MULTIPART_DOWN
from feed_api.live import LiveBusy
from feed_api.schemas import FieldProblem, LegacyError, Problem, ValidationProblem

log = logging.getLogger("feed_api")

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"
VALIDATION_STATUS = 422
PATH_SAFE = "/:@!$&'()*+,;=~"  # RFC 3986 path characters: Starlette hands the path over decoded, so re-encode
RETRY_AFTER_S = 5  # what a 503 for a dependency outage asks clients to wait

TITLES: dict[str, str] = {
    "invalid_request": "Invalid request",
    "invalid_cursor": "Invalid cursor",
    "unauthenticated": "Authentication required",
    "invalid_token": "Invalid token",
    "invalid_credentials": "Wrong handle or password",
    "invalid_refresh_token": "Invalid refresh token",
    "token_reused": "Refresh token reused",
    "bad_image": "Unusable image",
    "forbidden": "Not allowed",
    "blocked": "Blocked",
    "not_found": "Not found",
    "user_not_found": "User not found",
    "video_not_found": "Video not found",
    "comment_not_found": "Comment not found",
    "sound_not_found": "Sound not found",
    "sound_not_reusable": "Sound not reusable",
    "sound_unavailable": "Sound unavailable",
    "appeal_not_found": "Appeal not found",
    "handle_taken": "Handle taken",
    "invalid_state": "Wrong video state",
    "upload_missing": "Upload missing",
    "parts_missing": "Upload parts missing",
    "size_mismatch": "Upload size mismatch",
    "upload_gone": "Upload gone",
    "conflict": "Conflict with stored data",
    "too_large": "Upload too large",
    "payload_too_large": "Request body too large",
    "rate_limited": "Too many requests",
    "overloaded": "Service overloaded",
    "pipeline_unavailable": "Processing unavailable",
    "unavailable": "Service unavailable",
    "http_error": "HTTP error",
    "internal_error": "Internal error",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 fields: Sequence[FieldProblem] = (), extra: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers
        self.fields = list(fields)
        self.extra = dict(extra or {})  # extension members, e.g. ``missing_parts``


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, f"{kind}_not_found", f"{kind} {ident!r} does not exist")


def invalid(message: str, field: str = "") -> ApiError:
    """A 422 found by a handler rather than by request validation; ``field`` "" is the request as a whole."""
    return ApiError(VALIDATION_STATUS, "invalid_request", message, fields=[FieldProblem(field=field, problem=message)])


def problem_type(code: str) -> str:
    return TYPE_PREFIX + code


def title(code: str) -> str:
    return TITLES.get(code) or code.replace("_", " ").capitalize()


def problem(request: Request, status: int, code: str, detail: str, *, fields: Sequence[FieldProblem] = (),
            details: Sequence[FieldProblem] | None = None, headers: Mapping[str, str] | None = None,
            extra: Mapping[str, object] | None = None) -> JSONResponse:
    """The answer for one failure. ``details`` goes into the v1 ``error`` object only (request validation
    always sent it there); every 422 carries ``errors``, the whole request when no field was named."""
    fields = list(fields) or [FieldProblem(field="", problem=detail)]
    values = dict(**(extra or {}), type=problem_type(code), title=title(code), status=status, detail=detail,
                  instance=quote(request.url.path, safe=PATH_SAFE), code=code,
                  error=LegacyError(code=code, message=detail, details=list(details) if details is not None else None))
    doc = ValidationProblem(**values, errors=fields) if status == VALIDATION_STATUS else Problem(**values)
    return JSONResponse(doc.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers,
                        media_type=MEDIA_TYPE)


def field_problems(exc: RequestValidationError) -> list[FieldProblem]:
    # loc[0] is where the value came from (body, query, path); the rest names the field.
    return [FieldProblem(field=".".join(str(p) for p in e["loc"][1:]), problem=e["msg"]) for e in exc.errors()]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(request, exc.status, exc.code, exc.message, fields=exc.fields, headers=exc.headers,
                       extra=exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_problems(exc)
        return problem(request, VALIDATION_STATUS, "invalid_request", "the request body or parameters are invalid",
                       fields=fields, details=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(request, exc.status_code, "http_error", str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(LiveBusy)
    async def _busy(request: Request, exc: LiveBusy) -> JSONResponse:
        return problem(request, 503, "overloaded", "the service is busy; retry in a second",
                       headers={"Retry-After": "1"})

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        # A reference to something gone (e.g. a token for a user that no longer exists) or a raced insert.
        return problem(request, 409, "conflict", "the request conflicts with stored data")

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # A value PostgreSQL cannot hold, from any body, query or path (a NUL character in text, above all).
        return problem(request, VALIDATION_STATUS, "invalid_request",
                       "the request holds a value that cannot be stored (a NUL character?)")

    @app.exception_handler(OperationalError)
    async def _catalog_down(request: Request, exc: OperationalError) -> JSONResponse:
        return _unavailable(request, "catalog", exc)

    @app.exception_handler(DBAPIError)
    async def _catalog_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:  # the connection dropped mid-request: an outage, not a bug
            return _unavailable(request, "catalog", exc)
        return await _unexpected(request, exc)

    async def _storage_down(request: Request, exc: Exception) -> JSONResponse:
        return _unavailable(request, "object store", exc)

    for down in (*STORAGE_DOWN, *MULTIPART_DOWN):  # the S3 clients' transport failures: the store is unreachable
        app.add_exception_handler(down, _storage_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "internal_error", "something went wrong on our side")


def _unavailable(request: Request, what: str, exc: Exception) -> JSONResponse:
    """A dependency is down: 503 with Retry-After, and one log line per request instead of a traceback."""
    log.warning("%s unavailable on %s %s: %s", what, request.method, request.url.path,
                str(getattr(exc, "orig", None) or exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
    return problem(request, 503, "unavailable", f"the {what} is unavailable; retry in a few seconds",
                   headers={"Retry-After": str(RETRY_AFTER_S)})
