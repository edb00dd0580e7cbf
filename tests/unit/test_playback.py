"""The playback clock with synthetic wall times: startup, stalls, watch limits, speed."""

import math

import pytest

from delivery.playback import PlaybackClock


def test_startup_is_the_wall_time_until_the_first_content():
    c = PlaybackClock(10.0)
    assert not c.started and c.startup_s is None
    c.extend(2.0, 10.25)
    assert c.started and c.startup_s == pytest.approx(0.25)
    assert c.position(11.25) == pytest.approx(1.0)
    assert c.buffer_s(11.25) == pytest.approx(1.0)


def test_a_stall_is_dated_to_when_the_buffer_ran_dry_and_lasts_until_content_arrives():
    c = PlaybackClock(0.0)
    c.extend(2.0, 0.5)  # plays from 0.5, runs dry at 2.5
    c.extend(4.0, 3.25)  # 0.75 s later the next segment arrives
    s = c.stats(3.25)
    assert s.rebuffer_count == 1 and s.rebuffer_s == pytest.approx(0.75)
    assert c.stalls[0].start_wall == pytest.approx(2.5) and c.stalls[0].position_s == pytest.approx(2.0)
    assert c.position(4.25) == pytest.approx(3.0)
    # ratio: 0.75 s stalled against 3 s played
    assert c.stats(4.25).rebuffer_ratio == pytest.approx(0.75 / 3.75)


def test_an_open_stall_counts_up_to_now():
    c = PlaybackClock(0.0)
    c.extend(1.0, 0.0)
    assert c.stalled is False
    s = c.stats(3.0)
    assert c.stalled and s.rebuffer_count == 1 and s.rebuffer_s == pytest.approx(2.0)


def test_content_in_time_means_no_stall():
    c = PlaybackClock(0.0, stop_at_s=6.0)
    for i, t in enumerate((0.1, 1.5, 3.0)):
        c.extend(2.0 * (i + 1), t)
    assert c.wall_until_stop(3.0) == pytest.approx(3.1)
    s = c.stats(7.0)
    assert s.finished and s.rebuffer_count == 0 and s.position_s == 6.0
    assert c.finished_wall == pytest.approx(6.1)


def test_the_watch_limit_ends_playback_even_with_more_buffered():
    c = PlaybackClock(0.0, stop_at_s=3.0)
    c.extend(8.0, 0.2)
    assert c.wall_until_stop(0.2) == pytest.approx(3.0)
    s = c.stats(10.0)
    assert s.finished and s.position_s == 3.0 and s.rebuffer_count == 0
    assert c.finished_wall == pytest.approx(3.2)


def test_speed_scales_media_time_against_wall_time():
    c = PlaybackClock(0.0, speed=10.0)
    c.extend(2.0, 0.1)  # a 2 s segment plays in 0.2 s of wall time
    assert c.position(0.2) == pytest.approx(1.0)
    c.extend(4.0, 0.5)  # ran dry at 0.3: stalled 0.2 s of wall time
    s = c.stats(0.5)
    assert s.rebuffer_count == 1 and s.rebuffer_s == pytest.approx(0.2)
    assert c.wall_until_buffer(0.5, 0.5) == pytest.approx(0.15)


def test_resume_waits_for_the_resume_buffer_but_not_past_the_end():
    c = PlaybackClock(0.0, stop_at_s=5.0, resume_buffer_s=2.0)
    c.extend(1.0, 0.0)
    c.extend(2.0, 2.0)  # 1 s ahead: not enough to resume
    assert c.stalled
    c.extend(3.0, 2.5)
    assert not c.stalled and c.stats(2.5).rebuffer_s == pytest.approx(1.5)
    c.extend(4.5, 6.0)  # stalled again at wall 4.5 (position 3)
    assert c.stalled
    c.extend(5.0, 6.5)  # only 2 s remain to the stop point: that is enough
    assert not c.stalled


def test_start_buffer_delays_the_first_frame():
    c = PlaybackClock(0.0, start_buffer_s=4.0)
    c.extend(2.0, 0.1)
    assert not c.started
    c.extend(4.0, 0.3)
    assert c.startup_s == pytest.approx(0.3)


def test_running_dry_at_a_later_learned_end_is_not_a_rebuffer():
    c = PlaybackClock(0.0)  # the duration is not known yet
    c.extend(2.0, 0.0)
    assert c.stats(3.0).rebuffer_count == 1
    c.set_stop(2.0, 3.0)
    s = c.stats(3.0)
    assert s.finished and s.rebuffer_count == 0 and c.finished_wall == pytest.approx(2.0)


def test_waits_are_infinite_when_nothing_plays():
    c = PlaybackClock(0.0, stop_at_s=10.0)
    assert c.wall_until_stop(0.0) == math.inf
    assert c.wall_until_buffer(0.0, 0.0) == 0.0
    c.extend(2.0, 0.0)
    c.advance(5.0)
    assert c.stalled and c.wall_until_stop(5.0) == math.inf


def test_time_must_not_go_backwards_and_speed_must_be_positive():
    c = PlaybackClock(5.0)
    c.extend(1.0, 6.0)
    with pytest.raises(ValueError, match="backwards"):
        c.advance(5.5)
    with pytest.raises(ValueError):
        PlaybackClock(0.0, speed=0)
