"""The limited-exposure rule for new uploads in For You (recommend.exposure), as a pure function."""

from __future__ import annotations

from recommend.exposure import ExposureRule, for_you_eligible, graduated, in_sample

RULE = ExposureRule(min_views=100, max_reports=1, sample_share=0.1)


def eligible(rule: ExposureRule = RULE, *, viewer: str = "viewer", video: str = "video", creator: str = "creator",
             views: int = 0, reports: int = 0, moderation: str = "clear") -> bool:
    return for_you_eligible(rule, viewer_id=viewer, video_id=video, creator_id=creator, views=views,
                            reports=reports, moderation=moderation)


def test_a_video_graduates_with_enough_views_and_few_enough_reports():
    assert not graduated(RULE, views=99, reports=0)
    assert graduated(RULE, views=100, reports=1)
    assert not graduated(RULE, views=10_000, reports=2)  # too many reports: back to its sample
    assert graduated(ExposureRule(min_views=0), views=0, reports=5)  # min_views 0: the rule is off


def test_moderation_other_than_clear_is_never_eligible_whatever_the_views():
    for moderation in ("review", "restricted"):
        assert not eligible(views=10**6, moderation=moderation)
        assert not eligible(viewer="creator", moderation=moderation)


def test_an_ungraduated_video_reaches_its_creator_and_a_stable_sample_of_viewers():
    assert eligible(viewer="creator")
    viewers = [f"user{i}" for i in range(20_000)]
    shown = [v for v in viewers if eligible(viewer=v, video="v1")]
    assert 0.09 < len(shown) / len(viewers) < 0.11
    assert shown == [v for v in viewers if eligible(viewer=v, video="v1")]  # the same viewers on every page
    other = {v for v in viewers if eligible(viewer=v, video="v2")}
    assert len(other & set(shown)) < len(shown) / 2  # each upload gets its own sample
    assert all(eligible(viewer=v, video="v1", views=100) for v in viewers[:100])


def test_sample_share_bounds():
    assert not any(in_sample(f"u{i}", "v", 0.0) for i in range(1000))
    assert all(in_sample(f"u{i}", "v", 1.0) for i in range(1000))
