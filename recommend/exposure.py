"""Limited exposure for new uploads in For You: a pure rule, so it is the same in every path that uses it.

A video is *graduated* once it has ``min_views`` counted views with at most ``max_reports`` reports; from then
on For You may show it to anyone. Until then it is shown only to the creator and to a stable sample of
viewers, ``sample_share`` of them, chosen by a hash of (viewer, video): a viewer in the sample keeps seeing it
on every page, one outside never does, and each new upload reaches a different sample. A video with more than
``max_reports`` reports goes back to the sample only, whatever its views (it waits for review; past the review
threshold it leaves discovery feeds altogether). Anything not ``clear`` with moderation is never eligible.
Followers see every upload of the creators they follow in their Following feed, which this rule does not touch.

Age is not an input: a new upload that never reaches the view threshold stays in the sample, which is the
point (reach is earned by views, not by waiting). ``min_views`` 0 turns the rule off.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class ExposureRule:
    min_views: int = 100  # views before a new upload may be shown to everyone; 0: no limited phase
    max_reports: int = 2  # reports tolerated (more: back to the sample); a moderator's approval resets the count
    sample_share: float = 0.1  # the share of viewers who see an ungraduated upload, 0..1


def graduated(rule: ExposureRule, *, views: int, reports: int) -> bool:
    return views >= rule.min_views and (reports <= rule.max_reports or rule.min_views == 0)


@lru_cache(maxsize=65536)  # a pure function of its arguments, asked for every new upload on every For You page
def in_sample(viewer_id: str, video_id: str, share: float) -> bool:
    """Stable per (viewer, video): the same viewer gets the same answer on every page."""
    if share <= 0.0:
        return False
    digest = hashlib.blake2b(f"{viewer_id}:{video_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def for_you_eligible(rule: ExposureRule, *, viewer_id: str, video_id: str, creator_id: str | None, views: int,
                     reports: int, moderation: str) -> bool:
    """May For You show this video to this viewer?"""
    if moderation != "clear":
        return False
    if graduated(rule, views=views, reports=reports) or viewer_id == creator_id:
        return True
    return in_sample(viewer_id, video_id, rule.sample_share)
