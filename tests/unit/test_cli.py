import pytest

from reelflow.cli import main


@pytest.mark.parametrize("argv,problem", [
    (["sample", "/tmp/x.mp4", "--size", "big"], "must look like 1280x720"),
    (["sample", "/tmp/x.mp4", "--size", "641x360"], "even"),
    (["demo", "--seconds", "-3"], "between 0 and 600"),
    (["stack", "sideways"], "invalid choice"),
])
def test_bad_arguments_exit_2_naming_the_problem(argv, problem, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert problem in capsys.readouterr().err


def test_play_refuses_a_non_https_url(capsys):
    assert main(["play", "http://localhost:8443/vod/x/master.m3u8", "--insecure"]) == 1
    assert "https://" in capsys.readouterr().err


def test_upload_reports_an_unreachable_api(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REELFLOW_API_PORT", "1")
    from reelflow.settings import get_settings

    get_settings.cache_clear()
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    try:
        assert main(["upload", str(clip)]) == 1
    finally:
        get_settings.cache_clear()
    assert "error:" in capsys.readouterr().err


def test_sample_writes_a_clip(tmp_path, capsys):
    out = tmp_path / "s.mp4"
    assert main(["sample", str(out), "--size", "320x240", "--seconds", "1"]) == 0
    assert out.stat().st_size > 0
