"""Upload-complete -> ready through the real stack, split into Reelflow's work and Airflow's overhead.

Baseline, measured in the same run: the same ladder and codecs packaged in-process, one codec after
the other (probe + transcode + master), with no Airflow, no object store and no catalog.

    .venv/bin/python bench/ingest_latency.py [--seconds 20] [--size 1920x1080] [--runs 2]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from config.settings import get_settings
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip, unique_pattern
from reelflow.creator_client import ReelflowClient
from reelflow.demo import pipeline_timing
from reelflow.stack import Stack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    settings = get_settings()
    Stack(settings, log=lambda m: print(f"  stack: {m}")).up()

    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
    print(f"clips: {w}x{h}, {args.seconds:.0f} s, a new Mandelbrot zoom per run (a repeat would be a duplicate); "
          f"ladder {settings.ladder_short_sides}, codecs {', '.join(settings.codecs)} "
          f"(caps {', '.join(f'{c} {side}p' for c, side in settings.codec_max_short_side.items())}), "
          f"x264 {settings.x264_preset}")
    client = ReelflowClient(settings.api_url)
    rows, baselines = [], []
    seed = secrets.randbits(32)
    for i in range(args.runs):
        clip = make_clip(work / f"clip{i}.mp4", width=w, height=h, seconds=args.seconds,
                         pattern=unique_pattern(seed + i))
        t = time.perf_counter()
        package_hls(clip, work / "hls", probe(clip), ladder=settings.ladder, codecs=settings.codecs,
                    max_short_side=settings.codec_max_short_side, preset=settings.x264_preset, crf=settings.x264_crf)
        baselines.append(time.perf_counter() - t)
        video = client.upload(clip, caption=f"bench {i}")
        video = client.wait_settled(video["id"], timeout_s=900, poll_s=0.2)
        timing = pipeline_timing(video)
        if timing is None:
            raise SystemExit(f"run {i}: video ended {video['state']}: {video.get('failure')}")
        rows.append(timing)
        steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(timing.steps.items(), key=lambda kv: -kv[1]))
        print(f"run {i}: complete->ready {timing.complete_to_ready_s:6.2f} s | work {timing.work_s:6.2f} s "
              f"({steps}) | Airflow {timing.orchestration_s:5.2f} s | in-process baseline {baselines[-1]:6.2f} s")
    shutil.rmtree(work, ignore_errors=True)

    total = statistics.median(r.complete_to_ready_s for r in rows)
    airflow = statistics.median(r.orchestration_s for r in rows)
    print(f"\nmedian upload-complete -> ready: {total:.2f} s, of which Airflow scheduling/start-up {airflow:.2f} s "
          f"({100 * airflow / total:.0f} %)")
    baseline = statistics.median(baselines)
    print(f"baseline, same ladder and codecs in-process, one after the other, no orchestration or storage: "
          f"{baseline:.2f} s (pipeline / baseline = {total / baseline:.2f}x)")


if __name__ == "__main__":
    main()
