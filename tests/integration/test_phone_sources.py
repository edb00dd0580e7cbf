"""What phones send: variable frame rate and odd sizes, packaged into a conformant ladder."""

from __future__ import annotations

import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media.limits import Limits
from media.package import package_hls
from media.probe import probe
from media.scan import scan
from tests.hls_checks import check_package


def vfr_clip(path: Path, seconds: float = 4.0, width: int = 641, height: int = 361) -> Path:
    """Frames 20 ms and 50 ms apart in turn (a phone dropping its rate in low light), odd size."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=50, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width - 1, height - 1, "yuv420p"  # x264 needs even sides
        stream.codec_context.time_base = Fraction(1, 1000)
        t, i = 0, 0
        rng = np.random.default_rng(1)
        base = rng.integers(0, 255, (height - 1, width - 1, 3), dtype=np.uint8)
        while t < seconds * 1000:
            img = np.roll(base, i * 4, axis=1)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
            t += 20 if i % 2 else 50
            i += 1
        out.mux(stream.encode(None))
    return path


def test_variable_frame_rate_is_detected_and_packaged_as_constant_rate(tmp_path):
    src = vfr_clip(tmp_path / "vfr.mp4")
    info = probe(src)
    result = scan(src, info, Limits())
    assert result.variable_frame_rate
    package = package_hls(src, tmp_path / "out", info, codecs=("h264",))
    master, checks = check_package(tmp_path / "out", expect_audio=False)
    fps = float(package.plan.fps)
    assert fps == pytest.approx(float(info.fps), rel=0.05)
    duration = checks[0].frames / fps
    assert duration == pytest.approx(info.duration_s, abs=0.25)  # no frames invented, none lost
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in (p.stream_info.resolution for p in master.playlists))


def test_package_keeps_foreign_files_and_cleans_its_own_on_failure(tmp_path, clips):
    from media.errors import MediaError

    out = tmp_path / "pkg"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    package_hls(clips["landscape"], out, probe(clips["landscape"]), codecs=("h264",))
    assert (out / "notes.txt").read_text() == "mine" and (out / "master.m3u8").exists()
    info = probe(clips["landscape"])
    with pytest.raises(MediaError):
        package_hls(clips["text"], out, info, codecs=("h264",))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def _marked_clip(path: Path, rotation: int | None) -> Path:
    """Landscape pixels with a red block top-left, optionally tagged with a display rotation."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(30):
            img = np.full((360, 640, 3), 90, np.uint8)
            img[:60, :100] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _red_corner(img: np.ndarray) -> str:
    h, w = img.shape[:2]
    corners = {"tl": img[5, 5], "tr": img[5, w - 5], "bl": img[h - 5, 5], "br": img[h - 5, w - 5]}
    return next(k for k, v in corners.items() if v[0] > 200 and v[1] < 80)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="./dev setup installs Debian's ffmpeg")
@pytest.mark.parametrize("rotation", [90, -90, 180, "tag90"])
def test_rotation_matches_ffmpegs_own_autorotate(tmp_path, rotation):
    import cv2

    if rotation == "tag90":  # tagged by FFmpeg itself, the way older phones' files look
        plain = _marked_clip(tmp_path / "plain.mp4", None)
        src = tmp_path / "rotated.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(plain), "-c", "copy",
                        "-metadata:s:v:0", "rotate=90", str(src)], check=True)
    else:
        src = _marked_clip(tmp_path / "rotated.mp4", rotation)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-frames:v", "1",
                    str(tmp_path / "ref.png")], check=True)
    reference = cv2.cvtColor(cv2.imread(str(tmp_path / "ref.png")), cv2.COLOR_BGR2RGB)
    info = probe(src)
    package = package_hls(src, tmp_path / "out", info, codecs=("h264",))
    rung = tmp_path / "out" / package.variants[0].uri.rsplit("/", 1)[0]
    body = (rung / "init.mp4").read_bytes() + (rung / "seg_00000.m4s").read_bytes()
    with av.open(io.BytesIO(body)) as c:
        ours = next(c.decode(video=0)).to_ndarray(format="rgb24")
    sample = scan(src, info, Limits()).samples.images[0]
    assert ours.shape[:2] == reference.shape[:2]
    assert _red_corner(ours) == _red_corner(reference) == _red_corner(sample)
