"""Who a per-IP limit counts, and the GCRA parameters of a budget."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from config.settings import Settings
from feed_api.rate_limits import Budget, Rate, client_subject, rates_from


def _from(host: str | None) -> Request:
    return Request({"type": "http", "headers": [], "client": (host, 5000) if host else None})


@pytest.mark.parametrize(("host", "subject"), [
    ("203.0.113.7", "ip:203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"),  # one subscriber's /64 is one client
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "ip:2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "ip:203.0.113.7"),  # an IPv4 client on a dual-stack socket
    ("testclient", "ip:testclient"),
    (None, "ip:unknown"),
])
def test_the_client_subject_is_the_address_or_its_ipv6_64(host, subject):
    assert client_subject(_from(host)) == subject


def test_budgets_come_from_the_settings_per_minute():
    rates = rates_from(Settings(signup_limit_per_min=6, signup_limit_burst=5, rate_limit_per_s=20, rate_limit_burst=60))
    assert rates[Budget.SIGNUP] == Rate(per_s=0.1, burst=5)
    assert rates[Budget.SIGNUP].gcra_args() == [10_000.0, 40_000.0]  # one per 10 s; four more may come early
    assert rates[Budget.GENERAL].gcra_args() == [50.0, 2950.0]
    assert set(rates) == set(Budget)
