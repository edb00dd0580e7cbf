"""The ffmpeg-binary engine: same layout and conformance as the PyAV engine; GPU flags when asked."""

from __future__ import annotations

import shutil

import pytest

from media.ffmpeg_engine import encode_video_ffmpeg, ffmpeg_command
from media.ladder import LadderConfig
from media.package import finalize_package, plan_for
from media.probe import probe
from media.samples import packaged_clip
from media.transcode import encode_audio, rungs_for
from tests.hls_checks import check_package


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="./dev setup installs Debian's ffmpeg")
def test_ffmpeg_engine_package_is_conformant(tmp_path, clips):
    src = packaged_clip("bigbuckbunny") or clips["landscape"]
    info = probe(src)
    plan = plan_for(info)
    renditions = encode_video_ffmpeg(src, tmp_path, plan, "h264")
    assert [r.name for r in renditions] == [f"h264-{r.name}" for r in plan.rungs]
    assert {r.encoder for r in renditions} == {"libx264"}
    renditions += encode_audio(src, tmp_path, plan)
    finalize_package(tmp_path, plan, renditions)
    _, checks = check_package(tmp_path, expect_audio=True)
    assert len({c.frames for c in checks}) == 1


def test_gpu_pipeline_keeps_frames_on_the_gpu(clips, tmp_path):
    info = probe(clips["landscape"])
    plan = plan_for(info, LadderConfig(short_sides=(240, 360)))
    cmd = " ".join(ffmpeg_command(clips["landscape"], tmp_path, plan, "hevc", rungs_for(plan, "hevc"), gpu=True))
    assert "-hwaccel cuda -hwaccel_output_format cuda" in cmd
    assert "scale_cuda=426:240" in cmd and "scale=" not in cmd
    assert "-c:v hevc_nvenc" in cmd and "-tag:v hvc1" in cmd and "-no-scenecut 1" in cmd


def test_a_file_ffmpeg_cannot_read_is_a_media_error(clips, tmp_path):
    from media.errors import MediaError

    plan = plan_for(probe(clips["landscape"]))
    with pytest.raises(MediaError):
        encode_video_ffmpeg(clips["text"], tmp_path, plan, "h264")
    assert not (tmp_path / "h264").exists()
