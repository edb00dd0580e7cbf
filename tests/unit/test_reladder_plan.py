"""The re-ladder batch's decision: which videos to start, within the window, and how finished ones ended."""

from __future__ import annotations

import pytest

from jobs.reladder import (
    ALREADY_DONE,
    VideoStatus,
    batch_run_id,
    batch_run_prefix,
    plan_chunk,
    summarize,
)

B = "b1"


def ready(owner: str | None = "manual__old", **kw) -> VideoStatus:
    return VideoStatus("ready", owner, **kw)


def rid(vid: str) -> str:
    return batch_run_id(B, vid)


def test_starts_only_as_many_runs_as_the_window_has_room_for():
    catalog = {v: ready() for v in "abcd"}
    step = plan_chunk(B, list("abcd"), {}, catalog, max_in_flight=2)
    assert step.start == ["a", "b"] and step.waiting == ["c", "d"] and not step.done

    # Another chunk's runs count too: the window is the batch's, not the chunk's.
    others = {rid("x"): "running", rid("y"): "queued", rid("z"): "success"}
    step = plan_chunk(B, list("abcd"), others, catalog, max_in_flight=3)
    assert step.start == ["a"] and step.waiting == ["b", "c", "d"]
    assert plan_chunk(B, list("ab"), others, catalog, max_in_flight=2).start == []


def test_nothing_starts_while_other_ingest_runs_wait_in_the_queue():
    catalog = {v: ready() for v in "ab"}
    step = plan_chunk(B, ["a", "b"], {}, catalog, max_in_flight=4, others_queued=1)
    assert step.start == [] and step.waiting == ["a", "b"]  # an upload is waiting: it goes first
    assert plan_chunk(B, ["a", "b"], {}, catalog, max_in_flight=4, others_queued=0).start == ["a", "b"]


def test_a_second_look_waits_for_started_runs_and_reports_finished_ones():
    catalog = {"a": ready(rid("a")), "b": ready(rid("b"), failure_code="processing_error",
                                                    failure_reason="re-run failed: boom"), "c": ready()}
    runs = {rid("a"): "success", rid("b"): "failed", rid("c"): "running"}
    step = plan_chunk(B, ["a", "b", "c"], runs, catalog, max_in_flight=4)
    assert step.start == [] and step.waiting == ["c"]
    assert step.outcomes == {"a": "ready", "b": "failed: processing_error: re-run failed: boom"}

    runs[rid("c")] = "success"
    catalog["c"] = ready(rid("c"))
    step = plan_chunk(B, ["a", "b", "c"], runs, catalog, max_in_flight=4)
    assert step.done and step.outcomes["c"] == "ready"


def test_resuming_never_starts_a_run_twice_and_counts_switched_videos_as_done():
    # The run exists (started by an earlier look, whatever its state): it is not started again.
    step = plan_chunk(B, ["a"], {rid("a"): "queued"}, {"a": ready()}, max_in_flight=1)
    assert step.start == [] and step.waiting == ["a"]
    # Airflow no longer lists the run, but the catalog shows this batch switched the video.
    step = plan_chunk(B, ["a"], {}, {"a": ready(rid("a"))}, max_in_flight=1)
    assert step.done and step.outcomes == {"a": ALREADY_DONE}


def test_outcomes_name_what_happened_to_each_video():
    runs = {rid(v): "success" for v in "abcd"} | {rid("e"): "failed"}
    catalog = {
        "a": ready("manual__later"),  # a newer re-run took the video over
        "b": VideoStatus("ready", rid("b"), deleted=True),
        "c": ready(rid("c"), failure_code="duplicate", failure_reason="re-run rejected: near-duplicate"),
        "e": ready(rid("e")),  # the switch happened; a step after it (the embedding) failed
    }
    out = plan_chunk(B, list("abcde"), runs, catalog, max_in_flight=1).outcomes
    assert out["a"] == "superseded by run manual__later"
    assert out["b"] == out["d"] == "deleted"  # d: gone from the catalog
    assert out["c"] == "failed: duplicate: re-run rejected: near-duplicate"
    assert out["e"].startswith("ready (the run failed after the switch")
    # A video deleted before its run started is not started.
    assert plan_chunk(B, ["f"], {}, {"f": VideoStatus("ready", None, deleted=True)}, max_in_flight=1).outcomes \
        == {"f": "deleted"}

    done, failed = summarize(out | {"f": ALREADY_DONE})
    assert done == 2 and set(failed) == {"a", "b", "c", "d"}


def test_the_prefix_is_the_batch_and_the_window_must_hold_a_run():
    assert rid("v1") == "reladder:b1:v1" and rid("v1").startswith(batch_run_prefix(B))
    with pytest.raises(ValueError, match="max_in_flight"):
        plan_chunk(B, ["a"], {}, {"a": ready()}, max_in_flight=0)
