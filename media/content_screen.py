"""Content screening from ImageNet classes: which frames of a video a classifier policy holds for review.

An honest first policy, not a moderation model: the content embedding's encoder is an ImageNet-1k
classifier, so its class probabilities per sampled frame come for free. A policy names ImageNet classes (by
their index in the standard 1000-class order) and a probability; a video is flagged when enough of its
frames show a watched class that confidently. What it can see is what ImageNet labels (firearms, say, but
not violence, nudity or speech), so a flag sends a video to human review with limited exposure; it never
removes anything by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media.screen_policy import WEAPON_CLASSES, ScreenPolicy

__all__ = ["WEAPON_CLASSES", "ScreenFlag", "ScreenPolicy", "screen", "softmax"]

@dataclass(frozen=True)
class ScreenFlag:
    label: str
    class_index: int
    frames: int  # how many screened frames showed it
    max_probability: float
    first_time_s: float  # where a reviewer should look first

    def describe(self) -> str:
        return (f"{self.label} in {self.frames} frames (up to {self.max_probability:.0%}, "
                f"first at {self.first_time_s:.1f} s)")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def screen(class_logits: np.ndarray, frame_times: np.ndarray, policy: ScreenPolicy) -> list[ScreenFlag]:
    """Flags for the watched classes that pass the policy, the most frequent first; [] when none does."""
    if class_logits.ndim != 2 or class_logits.shape[1] != 1000 or len(class_logits) != len(frame_times):
        raise ValueError(f"expected (n, 1000) logits and n times, got {class_logits.shape} and {len(frame_times)}")
    if not len(class_logits) or not policy.classes:
        return []
    probs = softmax(class_logits.astype(np.float64))
    need = max(policy.min_frames, int(np.ceil(policy.min_share * len(probs))))
    flags = []
    for index, label in policy.classes.items():
        hits = np.flatnonzero(probs[:, index] >= policy.min_probability)
        if len(hits) >= need:
            flags.append(ScreenFlag(label, index, len(hits), float(probs[hits, index].max()),
                                    float(frame_times[hits[0]])))
    return sorted(flags, key=lambda f: (-f.frames, -f.max_probability))
