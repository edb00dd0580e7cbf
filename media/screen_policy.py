"""What the content screen watches for (:mod:`media.content_screen`), without numpy: the settings import it,
and every process that reads the settings (the edge's included) would otherwise load numpy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# ImageNet-1k indices (standard order) of weapons, the default classes held for review.
WEAPON_CLASSES: dict[int, str] = {
    413: "assault rifle", 471: "cannon", 597: "holster", 657: "missile", 744: "projectile",
    763: "revolver", 764: "rifle",
}


@dataclass(frozen=True)
class ScreenPolicy:
    classes: Mapping[int, str] = field(default_factory=lambda: dict(WEAPON_CLASSES))
    min_probability: float = 0.5  # per frame, after softmax over the 1000 classes
    min_frames: int = 2  # frames showing a watched class; one frame alone is too easily a fluke
    min_share: float = 0.1  # ...and at least this share of the frames screened

    def __post_init__(self) -> None:
        if not all(0 <= k < 1000 for k in self.classes):
            raise ValueError("ImageNet-1k class indices run from 0 to 999")
        if not 0 < self.min_probability <= 1 or not 0 <= self.min_share <= 1 or self.min_frames < 1:
            raise ValueError("min_probability in (0, 1], min_share in [0, 1], min_frames >= 1")
