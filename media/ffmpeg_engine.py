"""The second engine: the ffmpeg binary driven through ffmpeg-python, for full-GPU pipelines.

One ffmpeg process per codec: decode once, ``split`` into one scaler per rung, one HLS (fMP4) output per
rung, in the same ``<package>/<codec>/<rung>/`` layout as the PyAV engine, so
:func:`media.package.finalize_package` finishes either. With ``gpu=True`` frames stay on the GPU:
``-hwaccel cuda``, ``scale_cuda`` and NVENC (only where the binary and the host support them; H100/H200
have no NVENC). ffmpeg applies the display rotation itself and ``-fps_mode cfr`` makes VFR constant.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from functools import cache
from pathlib import Path

import ffmpeg

from media.codecs import video_codec_string
from media.encoders import NVENC, SOFTWARE, encoder_options
from media.errors import MediaError
from media.ladder import LadderPlan, Rung
from media.transcode import EncodedRendition, rungs_for


@cache
def binary_encoders(binary: str = "ffmpeg") -> frozenset[str]:
    """Encoders the installed ffmpeg binary was built with (empty when there is no binary)."""
    if shutil.which(binary) is None:
        return frozenset()
    out = subprocess.run([binary, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return frozenset(line.split()[1] for line in out.splitlines() if len(line.split()) > 1 and line.startswith(" V"))


def ffmpeg_command(src: str | Path, package_dir: str | Path, plan: LadderPlan, codec: str, rungs: list[Rung], *,
                   gpu: bool = False, preset: str = "veryfast", crf: int = 23, binary: str = "ffmpeg") -> list[str]:
    """The argument list, without running it (tests inspect it; :func:`encode_video_ffmpeg` runs it)."""
    out_dir = Path(package_dir) / codec
    encoder = NVENC[codec] if gpu else SOFTWARE[codec]
    source = ffmpeg.input(str(src), **({"hwaccel": "cuda", "hwaccel_output_format": "cuda"} if gpu else {}))
    split = source.video.filter_multi_output("split", len(rungs))
    outputs = []
    for i, rung in enumerate(rungs):
        rung_dir = out_dir / rung.name
        scaled = (split.stream(i).filter("scale_cuda", rung.width, rung.height) if gpu
                  else split.stream(i).filter("scale", rung.width, rung.height, flags="bicubic"))
        # The same encoder options as the PyAV engine: the CLI takes the codec's private options as flags.
        options = encoder_options(encoder, rung, plan.gop_frames, preset=preset, crf=crf)
        options.update({
            "c:v": encoder, "r": str(plan.fps), "fps_mode": "cfr", "an": None,
            "force_key_frames": f"expr:gte(t,n_forced*{plan.segment_seconds})",
            "f": "hls", "hls_time": f"{plan.segment_seconds / 2:.3f}", "hls_playlist_type": "vod",
            "hls_list_size": 0, "hls_segment_type": "fmp4", "hls_fmp4_init_filename": "init.mp4",
            "hls_segment_filename": str(rung_dir / "seg_%05d.m4s"), "hls_flags": "independent_segments",
        })
        if not gpu:
            options["pix_fmt"] = "yuv420p"
        if codec == "hevc":
            options["tag:v"] = "hvc1"
        outputs.append(ffmpeg.output(scaled, str(rung_dir / "index.m3u8"), **options))
    return ffmpeg.merge_outputs(*outputs).overwrite_output().global_args("-hide_banner", "-nostdin").compile(
        cmd=binary)


def encode_video_ffmpeg(src: str | Path, package_dir: str | Path, plan: LadderPlan, codec: str = "h264", *,
                        rungs: list[Rung] | None = None, gpu: bool = False, preset: str = "veryfast", crf: int = 23,
                        binary: str = "ffmpeg") -> list[EncodedRendition]:
    """Run :func:`ffmpeg_command`; same result shape as :func:`media.transcode.encode_video`."""
    if shutil.which(binary) is None:
        raise FileNotFoundError(f"the {binary!r} binary is not installed (./dev setup installs Debian's ffmpeg)")
    rungs = rungs if rungs is not None else rungs_for(plan, codec)
    out_dir = Path(package_dir) / codec
    for rung in rungs:  # only these rungs: a codec's ladder may be encoded in parts
        shutil.rmtree(out_dir / rung.name, ignore_errors=True)
        (out_dir / rung.name).mkdir(parents=True)
    cmd = ffmpeg_command(src, package_dir, plan, codec, rungs, gpu=gpu, preset=preset, crf=crf, binary=binary)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        for rung in rungs:
            shutil.rmtree(out_dir / rung.name, ignore_errors=True)
        with contextlib.suppress(OSError):  # the codec's directory too, when nothing else is in it
            out_dir.rmdir()
        tail = result.stderr.strip().splitlines()[-3:]
        raise MediaError("corrupt", f"ffmpeg could not transcode the video: {' / '.join(tail)}")
    encoder = NVENC[codec] if gpu else SOFTWARE[codec]
    return [EncodedRendition(
        name=f"{codec}-{rung.name}", kind="video", codec=codec, encoder=encoder,
        playlist=f"{codec}/{rung.name}/index.m3u8",
        codecs=video_codec_string((out_dir / rung.name / "init.mp4").read_bytes()),
        width=rung.width, height=rung.height, frame_rate=plan.fps) for rung in rungs]
