"""Pure parts of the error model: problem documents, titles for every code, and the OpenAPI post-processing."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request

from feed_api import openapi
from feed_api.deps import MaybeUser, User
from feed_api.errors import MEDIA_TYPE, TITLES, ApiError, invalid, problem

FEED_API = Path(__file__).resolve().parents[2] / "feed_api"


def request(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [],
                    "scheme": "http", "server": ("testserver", 80), "root_path": ""})


def body(resp) -> dict:
    return json.loads(resp.body)


def raised_codes() -> set[str]:
    """Every literal error code in feed_api: ApiError(status, code, ...), problem(request, status, code, ...)
    and not_found(kind, ...) (code ``{kind}_not_found``)."""
    codes: set[str] = set()
    for path in FEED_API.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            position = {"ApiError": 1, "problem": 2, "not_found": 0}.get(node.func.id)
            if position is None or len(node.args) <= position:
                continue
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                codes.add(f"{arg.value}_not_found" if node.func.id == "not_found" else arg.value)
    return codes


def test_every_raised_code_has_a_title():
    codes = raised_codes()
    assert {"handle_taken", "rate_limited", "user_not_found", "conflict", "internal_error"} <= codes
    assert codes <= set(TITLES), codes - set(TITLES)


def test_a_problem_document_names_its_type_status_and_path():
    resp = problem(request("/v1/users/é x"), 409, "handle_taken", "handle 'bob' is taken",
                   headers={"X-Why": "test"})
    assert resp.status_code == 409 and resp.media_type == MEDIA_TYPE and resp.headers["x-why"] == "test"
    assert body(resp) == {"type": "/problems/handle_taken", "title": "Handle taken", "status": 409,
                          "detail": "handle 'bob' is taken", "instance": "/v1/users/%C3%A9%20x",
                          "code": "handle_taken", "error": {"code": "handle_taken", "message": "handle 'bob' is taken"}}


def test_every_422_lists_errors_the_whole_request_when_no_field_is_named():
    doc = body(problem(request("/v1/feed"), 422, "invalid_request", "send exactly one of a and b"))
    assert doc["errors"] == [{"field": "", "problem": "send exactly one of a and b"}]
    assert "details" not in doc["error"]  # v1 clients only ever got details from request validation
    err = invalid("type=hashtag needs tag", "tag")
    assert isinstance(err, ApiError) and (err.status, err.code) == (422, "invalid_request")
    doc = body(problem(request("/v1/feed"), err.status, err.code, err.message, fields=err.fields))
    assert doc["errors"] == [{"field": "tag", "problem": "type=hashtag needs tag"}]


def test_unknown_codes_still_get_a_title():
    assert body(problem(request("/x"), 418, "short_and_stout", "no coffee"))["title"] == "Short and stout"


class Thing(BaseModel):
    name: str


def small_app() -> FastAPI:
    app = FastAPI()
    openapi.install(app)

    @app.post("/things/{tid}", responses={404: {"description": "no such thing"}})
    def make(tid: int, thing: Thing, user: User) -> dict:
        return {}

    @app.get("/things", responses={400: {"description": "bad cursor"}})
    def things(user: MaybeUser) -> dict:
        return {}

    @app.get("/ping")
    def ping() -> dict:
        return {}

    return app


def test_openapi_lists_route_dependency_and_framework_errors_as_problems():
    spec = small_app().openapi()
    ops = {(m, p): op["responses"] for p, item in spec["paths"].items() for m, op in item.items()}
    make, things, ping = ops[("post", "/things/{tid}")], ops[("get", "/things")], ops[("get", "/ping")]
    assert set(make) == {"200", "400", "401", "404", "409", "413", "422", "429", "500", "503"}
    assert set(things) == {"200", "400", "401", "429", "500", "503"} and things["400"]["description"] == "bad cursor"
    assert set(ping) == {"200", "500", "503"}  # any route may meet a dependency outage
    assert make["404"]["description"] == "no such thing" and make["422"]["description"] != "Validation Error"
    assert "payload_too_large" in make["413"]["description"]  # the body limit: only routes that take a body
    assert make["422"]["content"] == {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}}
    assert make["404"]["content"] == {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "WWW-Authenticate" in make["401"]["headers"] and make["429"]["headers"]["Retry-After"]["required"]
    schemas = spec["components"]["schemas"]
    assert {"Problem", "ValidationProblem", "FieldProblem", "LegacyError", "Thing"} <= set(schemas)
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
