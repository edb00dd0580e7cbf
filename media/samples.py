"""Synthetic test clips from FFmpeg's lavfi sources, so tests and demos need no downloaded media."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av


def make_clip(path: str | os.PathLike[str], *, width: int = 640, height: int = 360, seconds: float = 4.0,
              fps: int = 30, audio: bool = True, pattern: str = "testsrc2", crf: int = 20) -> Path:
    """Write an H.264/AAC MP4 of a moving test pattern (and a tone) to ``path``.

    ``pattern`` is any lavfi video source (testsrc2, smptehdbars, mandelbrot, life...); distinct
    patterns give visually distinct clips.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    src = f"{pattern}=size={width}x{height}:rate={fps}:duration={seconds}"
    with av.open(src, format="lavfi") as vin, av.open(str(path), "w") as out:
        vst = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "ultrafast"})
        vst.width, vst.height, vst.pix_fmt = width, height, "yuv420p"
        ast = None
        ain = None
        if audio:
            ain = av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi")
            ast = out.add_stream("aac", rate=48000, layout="stereo")
        for frame in vin.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vst.encode(frame))
        out.mux(vst.encode(None))
        if ain is not None and ast is not None:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000, frame_size=1024)
            samples = 0
            with ain:
                for frame in ain.decode(audio=0):
                    for f in resampler.resample(frame):
                        f.pts, f.time_base = samples, Fraction(1, 48000)
                        samples += f.samples
                        out.mux(ast.encode(f))
                for f in resampler.resample(None):
                    f.pts, f.time_base = samples, Fraction(1, 48000)
                    samples += f.samples
                    out.mux(ast.encode(f))
            out.mux(ast.encode(None))
    return path
