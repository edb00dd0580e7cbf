import pytest
from pydantic import ValidationError

from config.settings import Settings


def test_environment_overrides_with_prefix(monkeypatch):
    monkeypatch.setenv("REELFLOW_EDGE_PORT", "9443")
    monkeypatch.setenv("REELFLOW_LADDER_SHORT_SIDES", "[720, 360, 720]")
    monkeypatch.setenv("REELFLOW_EDGE_PUBLIC_URL", "https://edge.example:9443/")
    s = Settings()
    assert s.edge_port == 9443
    assert s.ladder_short_sides == [360, 720]
    assert s.playback_url("v/abc/1/master.m3u8") == "https://edge.example:9443/vod/v/abc/1/master.m3u8"


def test_scratch_dir_defaults_under_home(tmp_path):
    s = Settings(home=tmp_path)
    assert s.scratch_dir == tmp_path / "work"
    assert Settings(home=tmp_path, work_dir=tmp_path / "w").scratch_dir == tmp_path / "w"


@pytest.mark.parametrize("field,value", [("ladder_short_sides", []), ("ladder_short_sides", [8]),
                                         ("segment_seconds", 0.1), ("segment_seconds", 30)])
def test_bad_values_are_refused_with_the_field_named(field, value):
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: value})


def test_the_edge_admin_token_is_empty_by_default_and_must_be_a_usable_bearer_token(monkeypatch):
    monkeypatch.delenv("REELFLOW_EDGE_ADMIN_TOKEN", raising=False)
    assert Settings().edge_admin_token == ""  # unset: the edge keeps answering loopback peers only
    monkeypatch.setenv("REELFLOW_EDGE_ADMIN_TOKEN", "a" * 16)
    assert Settings().edge_admin_token == "a" * 16
    with pytest.raises(ValidationError, match=r"edge_admin_token[\s\S]*at least 16 characters"):
        Settings(edge_admin_token="short")
    with pytest.raises(ValidationError, match=r"edge_admin_token[\s\S]*only letters, digits"):
        Settings(edge_admin_token="has a space in it, so no header")


def test_check_masks_the_edge_admin_token(tmp_path):
    from reelflow.container import masked

    shown = masked(Settings(home=tmp_path, edge_admin_token="tok-" + "x" * 20))
    assert shown["edge_admin_token"] == "***" and shown["token_ttl_s"] == 15 * 60
    assert masked(Settings(home=tmp_path))["edge_admin_token"] == ""
