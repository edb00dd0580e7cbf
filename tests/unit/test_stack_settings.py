"""The local stack is development: it turns development tokens on and never runs on the published secret."""

from __future__ import annotations

from config.settings import DEV_API_SECRET, Settings, insecure_api_settings
from reelflow.stack import Stack


def test_the_local_stack_generates_its_own_secret_and_turns_dev_auth_on(tmp_path, monkeypatch):
    monkeypatch.delenv("REELFLOW_DEV_AUTH", raising=False)
    monkeypatch.delenv("REELFLOW_API_SECRET", raising=False)
    stack = Stack(Settings(home=tmp_path, dev_auth=False), log=lambda _: None)
    assert stack.s.dev_auth is True
    assert stack.s.api_secret != DEV_API_SECRET and len(stack.s.api_secret) >= 32
    secret_file = tmp_path / "api_secret"
    assert secret_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    # The same home keeps its secret (tokens survive a restart); the children get it through their env.
    again = Stack(Settings(home=tmp_path), log=lambda _: None)
    assert again.s.api_secret == stack.s.api_secret
    assert again.settings_env()["REELFLOW_API_SECRET"] == stack.s.api_secret
    assert again.settings_env()["REELFLOW_DEV_AUTH"] == "True"


def test_an_explicit_choice_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("REELFLOW_DEV_AUTH", "false")
    chosen = "c" * 40
    stack = Stack(Settings(home=tmp_path, api_secret=chosen), log=lambda _: None)
    assert (stack.s.dev_auth, stack.s.api_secret) == (False, chosen)
    assert not (tmp_path / "api_secret").exists()


def test_what_counts_as_insecure():
    assert insecure_api_settings(Settings(dev_auth=True)) is None  # development: tokens are free anyway
    assert "published" in insecure_api_settings(Settings(dev_auth=False))
    assert "at least 32" in insecure_api_settings(Settings(dev_auth=False, api_secret="x" * 20))
    assert insecure_api_settings(Settings(dev_auth=False, api_secret="x" * 32)) is None
