from fractions import Fraction

import pytest

from media.ladder import LadderConfig, even, output_fps, plan_ladder, rung_bitrate


def test_landscape_1080p_gets_four_rungs_with_even_sides_and_kept_aspect():
    plan = plan_ladder(1920, 1080, Fraction(30), True)
    assert [(r.width, r.height) for r in plan.rungs] == [(640, 360), (854, 480), (1280, 720), (1920, 1080)]
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in plan.rungs)
    assert plan.gop_frames == 60 and plan.segment_seconds == 2.0
    assert plan.audio_bitrate == 128_000


def test_portrait_uses_the_short_side_for_rung_names():
    plan = plan_ladder(1080, 1920, Fraction(30), False)
    assert [(r.name, r.width, r.height) for r in plan.rungs][-1] == ("1080p", 1080, 1920)
    assert plan.rungs[0].width == 360 and plan.rungs[0].height == 640
    assert plan.audio_bitrate is None


def test_never_upscales_and_small_sources_get_a_native_rung():
    plan = plan_ladder(426, 240, Fraction(25), True)
    assert [(r.width, r.height) for r in plan.rungs] == [(426, 240)]
    plan = plan_ladder(1280, 720, Fraction(30), True)
    assert max(r.height for r in plan.rungs) == 720


def test_odd_source_dimensions_become_even():
    plan = plan_ladder(853, 479, Fraction(30), True)
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in plan.rungs)
    assert (plan.rungs[-1].width, plan.rungs[-1].height) == (852, 478)  # rounded down, never upscaled


def test_source_between_rungs_gets_its_own_top_rung_only_when_clearly_larger():
    assert [r.name for r in plan_ladder(1280, 800, 30, True).rungs] == ["360p", "480p", "720p"]
    assert [r.name for r in plan_ladder(1700, 960, 30, True).rungs] == ["360p", "480p", "720p", "960p"]


def test_gop_follows_ntsc_and_high_frame_rates():
    plan = plan_ladder(1280, 720, Fraction(30000, 1001), True)
    assert plan.gop_frames == 60
    assert plan.segment_seconds == pytest.approx(2.002, abs=1e-3)
    assert output_fps(120, 60) == 60
    assert output_fps(None, 60) == 30


def test_bitrates_grow_with_size_and_frame_rate():
    table = LadderConfig().h264_bitrates
    assert rung_bitrate(360, Fraction(30), table) == 800_000
    assert rung_bitrate(720, Fraction(60), table) == 4_200_000
    assert rung_bitrate(600, Fraction(30), table) > rung_bitrate(480, Fraction(30), table)
    bitrates = [r.max_bitrate for r in plan_ladder(1920, 1080, 30, True).rungs]
    assert bitrates == sorted(bitrates)


def test_segment_length_is_configurable():
    plan = plan_ladder(1280, 720, Fraction(25), True, LadderConfig(short_sides=(360,), segment_seconds=4))
    assert plan.gop_frames == 100 and [r.name for r in plan.rungs] == ["360p", "720p"]


@pytest.mark.parametrize("w,h", [(0, 720), (1280, -2)])
def test_rejects_nonsense_sizes(w, h):
    with pytest.raises(ValueError, match="positive"):
        plan_ladder(w, h, 30, True)


def test_even_rounds_to_nearest_even_at_least_two():
    assert [even(x) for x in (0.4, 3, 5, 853.33)] == [2, 4, 6, 854]
