"""Property-based tests of the whole API against its own OpenAPI spec (schemathesis): whatever a client
sends that the spec allows, or nearly allows, the API never answers 5xx, and every answer (error problem
documents included) has a documented status, media type, headers and body. Bounded to stay near a minute."""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog import users
from catalog.db import session_scope
from config.settings import Settings
from feed_api.app import create_app
from tests.integration.feed_helpers import FakePurger, RecordingPipeline, clear_live_keys, ready_video, word

EXAMPLES_PER_OPERATION = 150
CONFORMANCE_EXAMPLES = 40  # fewer: these answers are mostly the same 4xx shapes as above
CONFORMANCE = [status_code_conformance, content_type_conformance, response_headers_conformance,
               response_schema_conformance]

# The schema is read at collection time (conftest has set the test environment by then); the data the
# requests meet is made by the fixture below, once the per-run catalog exists.
APP = create_app(Settings(rate_limit_per_s=100_000.0, rate_limit_burst=100_000), pipeline=RecordingPipeline(),
                 purger=FakePurger())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Valid and invalid input both: a bad request must be a 4xx, never a crash.
schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
                                with_security_parameters=False)


@pytest.fixture(scope="module", autouse=True)
def _live_keys(settings):
    yield
    clear_live_keys(settings)


@pytest.fixture(autouse=True)
def _streams_end_at_once(monkeypatch):
    # The notification stream answers the fuzzer's valid token with a 30-minute stream: end it after its first
    # events, which is all the checks need (status, media type, the first bytes).
    from feed_api import notification_stream

    monkeypatch.setattr(notification_stream, "MAX_STREAM_S", 0.0)


@pytest.fixture(scope="module")
def app_under_test(store, catalog_url, sessions):
    app = APP
    with session_scope(sessions) as s:
        me = users.create_user(s, handle=f"fuzz_{word(8)}").id
        other = users.create_user(s, handle=f"fuzz_{word(8)}").id
    for privacy in ("public", "followers", "private"):
        ready_video(sessions, other, tags=("fuzz",), privacy=privacy)
        ready_video(sessions, me, tags=("fuzz",), privacy=privacy)
    app.state.fuzz_headers = {"Authorization": f"Bearer {app.state.services.tokens.issue(me)}"}
    return app


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_no_server_errors(case, app_under_test):
    # A valid token on every request, so generated input reaches the handlers instead of stopping at 401
    # (bad tokens have their own tests).
    headers = {**(case.headers or {}), **app_under_test.state.fuzz_headers}
    case.call_and_validate(headers=headers, checks=[not_a_server_error])


@schema.parametrize()
@hypothesis.settings(max_examples=CONFORMANCE_EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_responses_match_the_spec(case, app_under_test):
    headers = {**(case.headers or {}), **app_under_test.state.fuzz_headers}
    case.call_and_validate(headers=headers, checks=CONFORMANCE)
