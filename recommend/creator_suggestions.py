"""Suggested creators for one person, over arrays: who the people they follow follow, who is popular where they
live, who posts what they said they like, and who people engage with right now.

Each signal is logarithmic in its count, so no single one dominates: 40 mutual follows are not 40 times one,
and a celebrity's follower count does not bury a creator three of your friends follow. Every suggestion says
why (its strongest signal), because an unexplained "follow this person" reads as an advertisement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CreatorWeights:
    mutual: float = 1.0  # x ln(1 + people you follow who follow them): the strongest evidence of taste
    followers: float = 0.15  # x ln(1 + their followers)
    region: float = 0.5  # + when they post from your region
    interests: float = 0.6  # x ln(1 + their recent videos carrying your interests)
    recent: float = 0.1  # x ln(1 + engagement with their recent videos)


# Why a creator is suggested, by signal; the API returns the code and the count behind it.
REASONS = ("followed_by_people_you_follow", "popular", "popular_in_your_region", "posts_your_interests",
           "trending_now")


def creator_scores(mutual: np.ndarray, followers: np.ndarray, same_region: np.ndarray, interest_videos: np.ndarray,
                   recent_engagement: np.ndarray, w: CreatorWeights = CreatorWeights()) -> tuple[np.ndarray, list[str]]:
    """(scores, a reason per candidate from ``REASONS``)."""
    parts = np.stack([
        w.mutual * np.log1p(np.maximum(np.asarray(mutual, float), 0.0)),
        w.followers * np.log1p(np.maximum(np.asarray(followers, float), 0.0)),
        w.region * np.asarray(same_region, bool).astype(float),
        w.interests * np.log1p(np.maximum(np.asarray(interest_videos, float), 0.0)),
        w.recent * np.log1p(np.maximum(np.asarray(recent_engagement, float), 0.0)),
    ]) if len(mutual) else np.zeros((5, 0))
    scores = parts.sum(axis=0)
    reasons = []
    for j in range(parts.shape[1]):
        k = int(np.argmax(parts[:, j]))
        if k == 1 and parts[2, j] > 0:  # popular, and from here: say so, it is the more useful half
            k = 2
        reasons.append(REASONS[k])
    return scores, reasons
