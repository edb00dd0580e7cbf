"""Fixtures the API's integration modules share: the app over the test services, and the cleanup of the live
keys a module leaves in the shared Redis (a module opts in with ``pytestmark``)."""

from __future__ import annotations

import pytest

from tests.integration.feed_helpers import clear_live_keys, make_client


@pytest.fixture(scope="module")
def live_keys_cleared(settings):
    yield
    clear_live_keys(settings)


@pytest.fixture()
def api(settings, store, catalog_url):
    """A fresh app per test (modules that keep one for the module define their own ``api``)."""
    with make_client(settings) as client:
        yield client
