import numpy as np

from media.scan import Samples
from media.thumbnails import choose_poster, sharpness


def test_poster_skips_black_flat_and_blurry_frames_and_prefers_the_middle():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    blurry = np.repeat(np.linspace(40, 200, 160, dtype=np.uint8)[None, :, None], 90, 0).repeat(3, 2)
    black = np.zeros((90, 160, 3), np.uint8)
    flat = np.full((90, 160, 3), 128, np.uint8)
    also_sharp = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    images = np.stack([sharp, black, flat, blurry, also_sharp, blurry, black])
    times = np.arange(7, dtype=np.float32) * 1.5
    assert choose_poster(Samples(times, images)) == times[4]  # the sharp first frame is an intro: half weight
    assert sharpness(sharp[..., 0]) > sharpness(blurry[..., 0])
