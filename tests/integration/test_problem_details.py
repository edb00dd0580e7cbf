"""Errors as RFC 9457 problem documents over real PostgreSQL and Redis: what the API answers, and what its
OpenAPI document promises, checked against each other."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from tests.integration.feed_helpers import Person, make_client, word

PROBLEM = "application/problem+json"
REF = "#/components/schemas/"


pytestmark = pytest.mark.usefixtures("live_keys_cleared")


@pytest.fixture(scope="module")
def spec(settings, store, catalog_url) -> dict:
    with make_client(settings) as client:
        return client.get("/openapi.json").json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def assert_problem(resp, status: int, code: str, path: str, spec: dict, operation: tuple[str, str]) -> dict:
    """The answer is a problem document for ``code`` that the spec's schema for this operation accepts."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body = resp.json()
    assert body["type"] == f"/problems/{code}" and body["title"] and body["status"] == status
    assert body["detail"] and body["instance"] == path and body["code"] == code
    assert body["error"]["code"] == code and body["error"]["message"] == body["detail"]  # the v1 object
    method, route = operation
    schema = spec["paths"][route][method]["responses"][str(status)]["content"][PROBLEM]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)
    return body


def test_404_409_422_401_and_409_conflict_answer_problem_documents(api, spec):
    me = Person(api)
    missing = "0" * 16
    assert_problem(api.get(f"/v1/users/{missing}"), 404, "user_not_found", f"/v1/users/{missing}", spec,
                   ("get", "/v1/users/{user_id}"))

    again = api.post("/v1/users", json={"handle": me.handle})
    assert_problem(again, 409, "handle_taken", "/v1/users", spec, ("post", "/v1/users"))

    bad = assert_problem(api.post("/v1/users", json={"handle": "a"}), 422, "invalid_request", "/v1/users", spec,
                         ("post", "/v1/users"))
    assert [e["field"] for e in bad["errors"]] == ["handle"] and bad["error"]["details"] == bad["errors"]
    # A 422 found by the handler rather than by validation names its field too.
    hashtag = assert_problem(api.get("/v1/feed", params={"type": "hashtag"}, headers=me.headers), 422,
                             "invalid_request", "/v1/feed", spec, ("get", "/v1/feed"))
    assert hashtag["errors"] == [{"field": "tag", "problem": "type=hashtag needs tag"}]

    anonymous = api.get("/v1/feed")
    assert_problem(anonymous, 401, "unauthenticated", "/v1/feed", spec, ("get", "/v1/feed"))
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="reelflow"'

    # A token whose user does not exist is refused at the door (its session version is looked up: 401) ...
    ghost = {"Authorization": f"Bearer {api.app.state.services.tokens.issue('f' * 16)}"}
    assert_problem(api.post(f"/v1/users/{me.id}/follow", headers=ghost), 401, "invalid_token",
                   f"/v1/users/{me.id}/follow", spec, ("post", "/v1/users/{user_id}/follow"))
    # ... but a user deleted within the seconds the API trusts its copy of that version trips a foreign key:
    # the IntegrityError handler answers 409.
    from sqlalchemy import text

    from catalog.db import session_scope

    gone = Person(api)
    assert api.get("/v1/me", headers=gone.headers).status_code == 200  # its session version is cached now
    with session_scope(api.app.state.services.sessions) as s:
        s.execute(text("DELETE FROM users WHERE id = :id"), {"id": gone.id})
    assert_problem(api.post(f"/v1/users/{me.id}/follow", headers=gone.headers), 409, "conflict",
                   f"/v1/users/{me.id}/follow", spec, ("post", "/v1/users/{user_id}/follow"))


def test_an_oversized_body_answers_a_documented_413(api, spec, settings):
    """The body limit answers before routing, still as the operation's documented problem."""
    body = b"{" + b" " * settings.max_request_body_bytes + b"}"
    resp = api.post("/v1/users", content=body, headers={"Content-Type": "application/json"})
    assert_problem(resp, 413, "payload_too_large", "/v1/users", spec, ("post", "/v1/users"))
    assert resp.headers["connection"] == "close"


def test_problem_headers_and_unrouted_paths(settings, store, catalog_url, spec):
    with make_client(settings, rate_limit_per_s=1.0, rate_limit_burst=1) as api:
        person = Person(api)
        answers = [api.get(f"/v1/users/{person.id}", headers=person.headers) for _ in range(3)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        limited = limited[0]
        assert_problem(limited, 429, "rate_limited", f"/v1/users/{person.id}", spec, ("get", "/v1/users/{user_id}"))
        assert int(limited.headers["retry-after"]) >= 1
        # No route, no operation in the spec: still a problem document, with the path percent-encoded.
        nowhere = api.get(f"/nowhere/{word()} é")
        assert nowhere.status_code == 404 and nowhere.headers["content-type"] == PROBLEM
        assert nowhere.json()["instance"].endswith("%20%C3%A9") and nowhere.json()["code"] == "http_error"
        wrong_method = api.put("/v1/feed")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"
        assert wrong_method.json()["status"] == 405


def test_openapi_documents_every_error_as_a_problem(spec):
    schemas = spec["components"]["schemas"]
    assert {"Problem", "ValidationProblem", "FieldProblem", "LegacyError"} <= set(schemas)
    assert "errors" in schemas["ValidationProblem"]["required"]
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text and f"{REF}ValidationError" not in text
    assert set(re.findall(r'"#/components/schemas/(\w+)"', text)) <= set(schemas), "dangling references"
    for label, op in operations(spec):
        errors = {int(s): r for s, r in op["responses"].items() if int(s) >= 400}
        assert 500 in errors, label
        for status, response in errors.items():
            model = "ValidationProblem" if status == 422 else "Problem"
            assert response["content"] == {PROBLEM: {"schema": {"$ref": REF + model}}}, (label, status)
        if op.get("security"):
            assert {401, 429, 503} <= set(errors), label
        if op.get("parameters") or op.get("requestBody"):
            assert 422 in errors, label
        if "application/json" in op.get("requestBody", {}).get("content", {}):  # FastAPI's 400: JSON not UTF-8
            assert 400 in errors, label
        if 429 in errors:
            assert errors[429]["headers"]["Retry-After"]["required"] is True


@pytest.mark.parametrize(("operation", "statuses"), [
    ("GET /v1/feed", {400, 401, 422, 429, 500, 503}),
    ("POST /v1/users", {400, 409, 413, 422, 429, 500, 503}),  # 429: sign-ups per client IP
    ("GET /v1/users/{user_id}", {401, 404, 422, 429, 500, 503}),
    ("POST /v1/users/{user_id}/follow", {401, 403, 404, 409, 422, 429, 500, 503}),  # no body, no 413
    ("POST /v1/videos/{video_id}/complete", {401, 403, 404, 409, 413, 422, 429, 500, 503}),
    ("GET /v1/videos/{video_id}/comments", {400, 401, 404, 422, 429, 500, 503}),
    ("POST /v1/videos/{video_id}/not_interested", {400, 401, 404, 409, 413, 422, 429, 500, 503}),
    ("POST /v1/auth/dev-token", {400, 404, 409, 413, 422, 429, 500, 503}),
    ("GET /healthz", {500, 503}),
    ("POST /v1/videos/{video_id}/report", {400, 401, 404, 409, 413, 422, 429, 500, 503}),
    ("GET /v1/moderation/queue", {400, 401, 403, 422, 429, 500, 503}),
    ("POST /v1/moderation/videos/{video_id}/actions", {400, 401, 403, 404, 409, 413, 422, 429, 500, 503}),
])
def test_each_operation_lists_the_errors_its_code_can_answer(spec, operation, statuses):
    op = dict(operations(spec))[operation]
    assert {int(s) for s in op["responses"] if int(s) >= 400} == statuses
