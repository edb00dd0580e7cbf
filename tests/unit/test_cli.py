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
    from config.settings import get_settings

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


def test_transcode_refuses_a_directory_that_is_not_a_package_and_leaves_it_intact(tmp_path, capsys):
    keep = tmp_path / "my_documents"
    keep.mkdir()
    (keep / "thesis.txt").write_text("years of work")
    assert main(["transcode", str(tmp_path / "missing.mp4"), str(keep)]) == 2
    assert "not an earlier Reelflow package" in capsys.readouterr().err
    assert (keep / "thesis.txt").read_text() == "years of work"


def test_failed_transcode_removes_only_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "master.m3u8").write_text("#EXTM3U\n")  # an earlier package lives here
    (out / "notes.txt").write_text("mine")
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert main(["transcode", str(bad), str(out)]) == 1
    assert "not_media" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
