"""Upload-complete -> playable and -> ready through the real stack, each split into Reelflow's work and
Airflow's overhead, for a 20 s 1080p clip and an 8 s 720p clip (by default).

Baselines, measured in the same run on the same clip: the playable stage's ladder (the H.264 rungs up to
``playable_max_short_side`` and the audio) and the full ladder and codecs, each packaged in-process, one
codec after the other (probe + transcode + master), with no Airflow, no object store and no catalog.

Each upload waits for the previous one's DAG run to finish (its embedding and cleanup included): the figures
are for one upload on a quiet stack, as the goal is stated; with uploads back to back, the previous video's
embedding (TensorFlow, after its ready) shares the cores.

    .venv/bin/python bench/ingest_latency.py [--clip 20:1920x1080 --clip 8:1280x720] [--runs 2]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.airflow_api import AirflowClient
from config.settings import Settings, get_settings
from jobs.pipeline import INGEST_DAG
from media.codecs import Codec
from media.package import package_hls
from media.probe import probe
from media.samples import make_clip, unique_pattern
from reelflow.creator_client import ReelflowClient
from reelflow.demo import PipelineTiming, pipeline_timing
from reelflow.stack import Stack


@dataclass(frozen=True)
class ClipSpec:
    seconds: float
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> ClipSpec:
        seconds, _, size = text.partition(":")
        w, h = (int(x) for x in size.split("x"))
        return cls(float(seconds), w, h)

    def __str__(self) -> str:
        return f"{self.seconds:g} s {self.width}x{self.height}"


def _baselines(settings: Settings, clip: Path, out: Path) -> tuple[float, float]:
    """(playable stage, full ladder) packaged in-process, seconds each."""
    info = probe(clip)
    t = time.perf_counter()
    if settings.playable_max_short_side and Codec.H264 in settings.codecs:
        package_hls(clip, out / "first", info, ladder=settings.ladder, codecs=[Codec.H264],
                    max_short_side={Codec.H264: settings.playable_max_short_side}, preset=settings.x264_preset,
                    crf=settings.x264_crf)
    first = time.perf_counter() - t
    t = time.perf_counter()
    package_hls(clip, out / "full", info, ladder=settings.ladder, codecs=settings.codecs,
                max_short_side=settings.codec_max_short_side, preset=settings.x264_preset, crf=settings.x264_crf)
    return first, time.perf_counter() - t


def _wait_run_done(airflow: AirflowClient, run_id: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while airflow.run_state(INGEST_DAG, run_id) not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit(f"DAG run {run_id} did not finish within {timeout_s:.0f} s")
        time.sleep(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", action="append", type=ClipSpec.parse,
                    help="SECONDS:WIDTHxHEIGHT, repeatable (default: 20:1920x1080 and 8:1280x720)")
    ap.add_argument("--runs", type=int, default=2, help="uploads per clip size")
    args = ap.parse_args()
    specs = args.clip or [ClipSpec(20, 1920, 1080), ClipSpec(8, 1280, 720)]
    settings = get_settings()
    Stack(settings, log=lambda m: print(f"  stack: {m}")).up()
    print(f"ladder {settings.ladder_short_sides}, codecs {', '.join(settings.codecs)} "
          f"(caps {', '.join(f'{c} {side}p' for c, side in settings.codec_max_short_side.items())}), "
          f"playable stage: H.264 up to {settings.playable_max_short_side}p + audio, x264 {settings.x264_preset}; "
          "a new Mandelbrot zoom per upload (a repeat would be a duplicate)")
    client = ReelflowClient(settings.api_url)
    airflow = AirflowClient(settings.airflow_url, settings.airflow_user, settings.airflow_password)
    work = Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
    seed = secrets.randbits(32)
    summary = []
    try:
        for n, spec in enumerate(specs):
            rows: list[PipelineTiming] = []
            baselines: list[tuple[float, float]] = []
            print(f"\n== {spec} ==")
            for i in range(args.runs):
                clip = make_clip(work / f"clip{n}_{i}.mp4", width=spec.width, height=spec.height,
                                 seconds=spec.seconds, pattern=unique_pattern(seed + 100 * n + i))
                baselines.append(_baselines(settings, clip, work / "hls"))
                video = client.upload(clip, caption=f"bench {spec} {i}")
                video = client.wait_settled(video["id"], timeout_s=900, poll_s=0.2)
                timing = pipeline_timing(video)
                if timing is None:
                    raise SystemExit(f"{spec} run {i}: video ended {video['state']}: {video.get('failure')}")
                rows.append(timing)
                _wait_run_done(airflow, video["pipeline_run_id"])
                playable = (f"playable {timing.complete_to_playable_s:6.2f} s (work {timing.playable_work_s:5.2f}, "
                            f"Airflow {timing.playable_orchestration_s:5.2f})" if timing.staged
                            else "no playable stage")
                print(f"run {i}: {playable} | ready {timing.complete_to_ready_s:6.2f} s (work {timing.work_s:5.2f}, "
                      f"Airflow {timing.orchestration_s:5.2f}) | in-process baselines: playable ladder "
                      f"{baselines[-1][0]:5.2f} s, full {baselines[-1][1]:6.2f} s")
                steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(timing.steps.items(), key=lambda kv: -kv[1]))
                print(f"       steps: {steps}")
            summary.append((spec, rows, baselines))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        client.close()

    print("\n== medians ==")
    for spec, rows, baselines in summary:
        ready = statistics.median(r.complete_to_ready_s for r in rows)
        ready_airflow = statistics.median(r.orchestration_s for r in rows)
        base_first = statistics.median(b[0] for b in baselines)
        base_full = statistics.median(b[1] for b in baselines)
        staged = [r for r in rows if r.staged]
        if staged:
            playable = statistics.median(r.complete_to_playable_s for r in staged)
            airflow = statistics.median(r.playable_orchestration_s for r in staged)
            print(f"{spec}: upload-complete -> playable {playable:.2f} s = {playable / spec.seconds:.2f}x the clip's "
                  f"length, Airflow {airflow:.2f} s ({100 * airflow / playable:.0f} %); in-process baseline of the "
                  f"playable ladder {base_first:.2f} s")
        print(f"{spec}: upload-complete -> ready {ready:.2f} s = {ready / spec.seconds:.2f}x, Airflow "
              f"{ready_airflow:.2f} s ({100 * ready_airflow / ready:.0f} %); in-process baseline of the full ladder "
              f"{base_full:.2f} s (pipeline / baseline = {ready / base_full:.2f}x)")


if __name__ == "__main__":
    main()
