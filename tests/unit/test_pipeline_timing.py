"""How the demo and bench/ingest_latency.py split upload -> ready into work and Airflow overhead."""

from reelflow.demo import PipelineTiming, pipeline_timing


def test_work_counts_the_longest_parallel_step_and_nothing_after_ready():
    timing = PipelineTiming(20.0, {"begin": 0.1, "validate": 1.0, "dedup": 0.5, "transcode_h264": 3.0,
                                   "transcode_av1": 4.0, "thumbnails": 0.5, "package": 0.1, "publish": 0.2,
                                   "mark_ready": 0.1, "embed": 9.0}, {})
    assert abs(timing.work_s - (0.1 + 1.0 + 0.5 + 4.0 + 0.1 + 0.2 + 0.1)) < 1e-9  # embed runs after ready
    assert abs(timing.orchestration_s - (20.0 - timing.work_s)) < 1e-9


def test_only_ready_videos_have_a_timing():
    video = {"state": "ready", "upload_completed_at": "2026-11-21T10:00:00+00:00",
             "ready_at": "2026-11-21T10:00:16.5+00:00", "step_seconds": {"validate": 1.5}}
    timing = pipeline_timing(video)
    assert timing is not None and timing.complete_to_ready_s == 16.5 and timing.work_s == 1.5
    assert pipeline_timing({**video, "state": "processing"}) is None
    assert pipeline_timing({**video, "ready_at": None}) is None


def test_a_playable_stage_splits_the_path_in_two():
    steps = {"begin": 0.1, "validate": 1.0, "dedup": 0.5, "playable_transcode_h264": 3.0, "transcode_audio": 0.5,
             "playable_package": 0.1, "playable_publish": 0.3, "playable_mark": 0.1,
             "transcode_h264": 6.0, "transcode_av1": 4.0, "thumbnails": 2.0, "package": 0.1, "publish": 0.2,
             "mark_ready": 0.1, "embed": 9.0}
    timing = PipelineTiming(20.0, steps, {}, complete_to_playable_s=7.0)
    assert timing.staged
    playable = 0.1 + 1.0 + 0.5 + 3.0 + 0.1 + 0.3 + 0.1  # the audio encodes beside the first rungs
    assert abs(timing.playable_work_s - playable) < 1e-9
    assert abs(timing.work_s - (playable + 6.0 + 0.1 + 0.2 + 0.1)) < 1e-9  # then the longest of the rest
    assert abs(timing.playable_orchestration_s - (7.0 - playable)) < 1e-9
    video = {"state": "ready", "upload_completed_at": "2026-12-03T10:00:00+00:00",
             "playable_at": "2026-12-03T10:00:07+00:00", "ready_at": "2026-12-03T10:00:20+00:00",
             "step_seconds": steps}
    assert pipeline_timing(video).complete_to_playable_s == 7.0
    # No playable steps (the stage was off): no playable figure, even though playable_at is set.
    unstaged = {k: v for k, v in steps.items() if not k.startswith("playable_")}
    assert pipeline_timing({**video, "step_seconds": unstaged}).complete_to_playable_s is None
