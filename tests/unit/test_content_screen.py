"""Content screening from the embedding encoder's ImageNet classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media.content_screen import WEAPON_CLASSES, ScreenPolicy, screen

MILITARY_UNIFORM = 652  # ImageNet-1k


def _logits(n: int, hot: dict[int, list[int]]) -> np.ndarray:
    """n frames of flat logits; frame i gets +12 on each class that lists i."""
    out = np.zeros((n, 1000), np.float32)
    for cls, frames in hot.items():
        out[frames, cls] = 12.0
    return out


def test_a_watched_class_in_enough_frames_is_flagged_and_a_fluke_is_not():
    times = np.arange(10, dtype=np.float32)
    policy = ScreenPolicy()
    flags = screen(_logits(10, {763: [3, 4, 5]}), times, policy)
    assert [(f.label, f.frames, f.first_time_s) for f in flags] == [("revolver", 3, 3.0)]
    assert flags[0].max_probability > 0.9 and "revolver in 3 frames" in flags[0].describe()
    assert screen(_logits(10, {763: [7]}), times, policy) == []  # one frame: a fluke
    assert screen(_logits(10, {1: list(range(10))}), times, policy) == []  # an unwatched class
    # min_share: 2 frames of 40 is under 10 %.
    assert screen(_logits(40, {413: [0, 1]}), np.arange(40, dtype=np.float32), policy) == []
    assert screen(_logits(0, {}), np.zeros(0, np.float32), policy) == []


def test_bad_policies_and_shapes_are_refused():
    with pytest.raises(ValueError, match="0 to 999"):
        ScreenPolicy(classes={1000: "x"})
    with pytest.raises(ValueError):
        ScreenPolicy(min_probability=0)
    with pytest.raises(ValueError, match="expected"):
        screen(np.zeros((3, 10)), np.zeros(3), ScreenPolicy())
    assert set(WEAPON_CLASSES) == {413, 471, 597, 657, 744, 763, 764}


def test_the_encoder_s_classes_see_a_real_photo():
    """Grace Hopper in uniform (the photo matplotlib ships): the encoder's class head, on the same pass as
    the embedding, says military uniform; a policy watching that class flags the clip, the weapons one not."""
    import cv2
    import matplotlib

    from media.embedding import shared_encoder

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    frames = np.stack([rgb] * 4)  # a 4 s still clip sampled at 1 fps
    analysis = shared_encoder().analyse(np.arange(4, dtype=np.float32), frames)
    assert analysis.class_logits.shape == (4, 1000) and analysis.vector.shape == (1280,)
    assert int(analysis.class_logits[0].argmax()) == MILITARY_UNIFORM
    np.testing.assert_allclose(analysis.vector, shared_encoder().embed(np.arange(4, dtype=np.float32), frames))
    watched = ScreenPolicy(classes={MILITARY_UNIFORM: "military uniform"}, min_probability=0.3)
    assert [f.label for f in screen(analysis.class_logits, analysis.frame_times, watched)] == ["military uniform"]
    assert screen(analysis.class_logits, analysis.frame_times, ScreenPolicy()) == []
