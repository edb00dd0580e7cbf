"""``reelflow demo``: the whole path on real services, narrated."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from adapters.airflow_api import AirflowClient, PipelineUnavailable
from config.settings import Settings
from delivery.player import play_startup
from jobs.ingest import PLAYABLE_STEP
from jobs.pipeline import INGEST_DAG
from media.samples import make_clip, unique_pattern
from reelflow.creator_client import ReelflowClient
from reelflow.stack import Stack, StackError

# Steps that run side by side as parallel Airflow tasks: only the longest is on the critical path.
PARALLEL_STEPS = ("transcode_", "thumbnails")
# The sequential start of every run, before any encode.
BEFORE_ENCODES = ("begin", "validate", "dedup")
# Tasks that run once the video is ready (or after everything): not part of upload -> ready.
AFTER_READY = ("embed", "cleanup")


def _critical(steps: dict[str, float]) -> float:
    """Sequential steps plus the longest of the parallel ones."""
    return (sum(v for k, v in steps.items() if not k.startswith(PARALLEL_STEPS))
            + max((v for k, v in steps.items() if k.startswith(PARALLEL_STEPS)), default=0.0))


@dataclass
class PipelineTiming:
    complete_to_ready_s: float
    steps: dict[str, float]  # our library work per step, measured inside the step
    task_durations: dict[str, float]  # Airflow's task durations (include the task process start-up)
    complete_to_playable_s: float | None = None  # None: the run had no playable stage

    @property
    def staged(self) -> bool:
        """Whether the run published a playable stage before its full ladder."""
        return any(k.startswith(PLAYABLE_STEP) for k in self.steps)

    @property
    def playable_work_s(self) -> float:
        """Work on the path to playable: the start, the first rungs beside the audio, their publication."""
        if not self.staged:
            return self.work_s
        stage = {k: v for k, v in self.steps.items() if k.startswith(PLAYABLE_STEP) or k == "transcode_audio"}
        return sum(self.steps.get(k, 0.0) for k in BEFORE_ENCODES) + _critical(
            {k.removeprefix(PLAYABLE_STEP): v for k, v in stage.items()})

    @property
    def work_s(self) -> float:
        """Work on the path to ready: the playable path, then the rest (longest encode or thumbnails, and
        the full publication); without a playable stage, every encode in parallel after the start."""
        path = {k: v for k, v in self.steps.items() if k not in AFTER_READY}
        if not self.staged:
            return _critical(path)
        rest = {k: v for k, v in path.items()
                if not k.startswith(PLAYABLE_STEP) and k not in BEFORE_ENCODES and k != "transcode_audio"}
        return self.playable_work_s + _critical(rest)

    @property
    def orchestration_s(self) -> float:
        """Everything that was not our work: scheduling, queueing, task process start-up and imports."""
        return max(0.0, self.complete_to_ready_s - self.work_s)

    @property
    def playable_orchestration_s(self) -> float | None:
        """The same on the path to playable."""
        if self.complete_to_playable_s is None:
            return None
        return max(0.0, self.complete_to_playable_s - self.playable_work_s)


def pipeline_timing(video: dict, airflow: AirflowClient | None = None) -> PipelineTiming | None:
    if video["state"] != "ready" or not video.get("upload_completed_at") or not video.get("ready_at"):
        return None
    complete = datetime.fromisoformat(video["upload_completed_at"])
    total = datetime.fromisoformat(video["ready_at"]) - complete
    steps = dict(video.get("step_seconds") or {})
    playable = None
    if video.get("playable_at") and any(k.startswith(PLAYABLE_STEP) for k in steps):
        playable = (datetime.fromisoformat(video["playable_at"]) - complete).total_seconds()
    durations: dict[str, float] = {}
    if airflow is not None:
        # Tasks up to publish are on the path to ready; embed and cleanup run after it (often still running).
        with contextlib.suppress(PipelineUnavailable):
            durations = {t.label: t.duration_s or 0.0 for t in airflow.task_runs(INGEST_DAG, video["pipeline_run_id"])
                         if t.task_id not in AFTER_READY}
    return PipelineTiming(total.total_seconds(), steps, durations, playable)


def run_demo(settings: Settings, *, seconds: float = 8.0, size: tuple[int, int] = (1280, 720),
             keep_running: bool = True) -> int:
    t0 = time.perf_counter()
    say = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)  # noqa: E731
    stack = Stack(settings, log=say)
    say("bringing the stack up (first start migrates databases; later starts reuse what runs)")
    try:
        stack.up()
    except StackError as exc:
        say(f"error: {exc}")
        return 1

    samples = settings.home / "samples"
    # New content on every run: uploading the same clip again would, rightly, be rejected as a duplicate.
    seed = secrets.randbits(32)
    say(f"generating two {seconds:g} s clips (Mandelbrot zooms, seed {seed})")
    clips = [
        ("landscape", make_clip(samples / "landscape.mp4", width=size[0], height=size[1], seconds=seconds,
                                pattern=unique_pattern(seed)), ["demo", "landscape"]),
        ("portrait", make_clip(samples / "portrait.mp4", width=size[1], height=size[0], seconds=seconds,
                               pattern=unique_pattern(seed + 1)), ["demo", "vertical"]),
    ]
    client = ReelflowClient(settings.api_url)
    airflow = AirflowClient(settings.airflow_url, settings.airflow_user, settings.airflow_password)
    ids: dict[str, str] = {}
    for name, path, tags in clips:
        video = client.upload(Path(path), caption=f"Reelflow demo: {name} clip", hashtags=tags)
        ids[name] = video["id"]
        say(f"uploaded {name} ({Path(path).stat().st_size / 1024:.0f} KiB) as video {video['id']} -> "
            f"{video['state']}, Airflow run {video['pipeline_run_id']}")

    seen: dict[tuple[str, str], str] = {}
    settled: dict[str, dict] = {}
    while len(settled) < len(ids):
        for name, vid in ids.items():
            if name in settled:
                continue
            video = client.video(vid)
            try:
                for t in airflow.task_runs(INGEST_DAG, video["pipeline_run_id"]):
                    if t.state and seen.get((vid, t.label)) != t.state:
                        seen[(vid, t.label)] = t.state
                        if t.state in ("running", "success", "failed", "skipped", "up_for_retry"):
                            took = f" ({t.duration_s:.1f} s)" if t.duration_s and t.state != "running" else ""
                            say(f"  {name:9} {t.label:17} {t.state}{took}")
            except PipelineUnavailable:
                pass
            if video["state"] == "playable" and (name, "playable") not in seen:
                seen[(name, "playable")] = "said"
                say(f"{name} is playable: {video['playback_url']}")
            if video["state"] in ("ready", "failed"):
                settled[name] = video
                say(f"{name} is {video['state']}" + (f": {video['failure']}" if video["failure"] else ""))
        if time.perf_counter() - t0 > 900:
            say("error: videos did not settle within 15 minutes")
            return 1
        time.sleep(0.5)

    ok = all(v["state"] == "ready" for v in settled.values())
    print("\n== report ==")
    for name, video in settled.items():
        timing = pipeline_timing(video, airflow)
        rungs = ", ".join(f"{r['name']} {r['width']}x{r['height']} {r['bandwidth'] / 1e6:.2f} Mb/s"
                          for r in video["renditions"] if r["kind"] == "video")
        print(f"{name}: {video['state']}  {video['playback_url'] or ''}")
        if rungs:
            print(f"  renditions: {rungs} + AAC audio")
        if timing:
            if timing.complete_to_playable_s is not None:
                print(f"  upload complete -> playable: {timing.complete_to_playable_s:.1f} s = work "
                      f"{timing.playable_work_s:.1f} s + Airflow scheduling and task start-up "
                      f"{timing.playable_orchestration_s:.1f} s")
            print(f"  upload complete -> ready:    {timing.complete_to_ready_s:.1f} s = work {timing.work_s:.1f} s + "
                  f"Airflow scheduling and task start-up {timing.orchestration_s:.1f} s")
            print("  work per step:      " + ", ".join(f"{k} {v:.2f}s" for k, v in timing.steps.items()))
            print("  Airflow task times: " + ", ".join(f"{k} {v:.1f}s" for k, v in timing.task_durations.items()))
    if ok:
        url = settled["landscape"]["playback_url"]
        report = asyncio.run(play_startup(url, cafile=str(settings.home / "certs" / "edge-cert.pem")))
        print(f"playback over HTTP/3: {report.summary()}")
        print(f"\nplay it again:  reelflow play {url}")
    print(f"Airflow UI: {settings.airflow_url} (user {settings.airflow_user}, password {settings.airflow_password})")
    if keep_running:
        print("the stack keeps running; stop it with:  reelflow stack down")
    else:
        stack.down()
    return 0 if ok else 1
