"""The error model of the OpenAPI document: every operation lists the failures it can answer, each an RFC 9457
problem document (``Problem``; ``ValidationProblem`` for 422) served as ``application/problem+json``.

The statuses come from the code, so the document cannot drift from it: the route's own ``responses=``
(what its handler raises), its dependencies (``deps.DEPENDENCY_ERRORS``: auth, rate limits), FastAPI's 422
for routes with parameters or a body, its 400 for an unreadable body and the body limit's 413
(``feed_api.body_limit``) for routes with a body, 409 for writes (the IntegrityError handler) and 500 for
every route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from feed_api.deps import DEPENDENCY_ERRORS
from feed_api.errors import MEDIA_TYPE, VALIDATION_STATUS
from feed_api.schemas import Problem, ValidationProblem

REF = "#/components/schemas/{model}"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# FastAPI's own 422 model, replaced by ValidationProblem, and the description it gives that response.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
FASTAPI_VALIDATION_DESCRIPTION = "Validation Error"

DESCRIPTIONS = {
    400: "bad request", 401: "no or bad token", 403: "not allowed", 404: "not found",
    409: "conflicts with stored data", 413: "too large", 422: "invalid parameters or body",
    429: "rate limited; retry after Retry-After", 500: "unexpected failure", 503: "unavailable; retry later",
}
UNREADABLE_BODY = "the body could not be read (not UTF-8)"
BODY_TOO_LARGE = "the request body is over the API's limit (payload_too_large)"
HEADERS = {
    401: {"WWW-Authenticate": {"description": "the scheme to authenticate with (Bearer)",
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "required": True,
                          "schema": {"type": "integer", "minimum": 1}}},
    503: {"Retry-After": {"description": "seconds to wait (load shed, or a dependency outage)",
                          "schema": {"type": "integer", "minimum": 1}}},
}


def dependency_calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from dependency_calls(dep)


def implied_errors(route: APIRoute) -> dict[int, str]:
    """Failures a route can answer that its handler does not raise itself, with a description each."""
    # Any route may meet a dependency outage (the catalog, the object store): 503 with Retry-After.
    found = {500: DESCRIPTIONS[500], 503: "a dependency is unavailable (or the service sheds load); retry later"}
    for call in dependency_calls(route.dependant):
        found.update(DEPENDENCY_ERRORS.get(call, {}))
    if route.methods & WRITES:
        found[409] = DESCRIPTIONS[409]  # IntegrityError: a reference to something gone, or a raced insert
    if route.body_field is not None:
        found[400] = UNREADABLE_BODY  # FastAPI's own answer when the body is not UTF-8, before validation
        found[413] = BODY_TOO_LARGE  # feed_api.body_limit, before routing: any body may be sent too long
    return found


def problem_response(status: int, description: str) -> dict:
    model = ValidationProblem if status == VALIDATION_STATUS else Problem
    out: dict = {"description": description,
                 "content": {MEDIA_TYPE: {"schema": {"$ref": REF.format(model=model.__name__)}}}}
    if status in HEADERS:
        out["headers"] = HEADERS[status]
    return out


def _description(declared: dict | None, implied: str | None, status: int) -> str:
    # The route's own words first: they say why this route answers the status.
    text = (declared or {}).get("description")
    if text and text != FASTAPI_VALIDATION_DESCRIPTION:
        return text
    return implied or DESCRIPTIONS.get(status, "error")


def document_operation(operation: dict, implied: dict[int, str]) -> None:
    responses = operation.setdefault("responses", {})
    declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
    for status in declared | set(implied):
        responses[str(status)] = problem_response(
            status, _description(responses.get(str(status)), implied.get(status), status))
    operation["responses"] = dict(sorted(responses.items()))


def problem_schemas() -> dict[str, dict]:
    _, defs = models_json_schema([(Problem, "serialization"), (ValidationProblem, "serialization")],
                                 ref_template=REF)
    return defs["$defs"]


def document_errors(spec: dict, routes: Iterable[BaseRoute]) -> dict:
    """Add the problem responses to every operation of ``spec`` and the Problem schemas to its components."""
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        implied = implied_errors(route)
        for method in route.methods:
            operation = spec["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                document_operation(operation, implied)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(problem_schemas())
    return spec


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
