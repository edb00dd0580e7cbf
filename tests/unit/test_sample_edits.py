"""The re-post edits of media/samples.py do what they say: a mirror is the flipped picture, overlays cover
the share of the frame they claim and nothing else."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media.samples import (
    STICKER_PLACES,
    draw_caption,
    draw_sticker,
    draw_watermark,
    make_clip,
    make_variant,
    sticker_place,
)


def frames(path) -> np.ndarray:
    """Luma only: chroma is subsampled at a left-sited position, so a flip moves colour edges by a pixel."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)]).astype(np.int16)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int16) != b.astype(np.int16)).any(axis=-1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("edits") / "o.mp4", width=160, height=96, seconds=1.0, audio=False,
                     crf=0)


def test_the_mirror_is_the_original_flipped_left_to_right(clip, tmp_path):
    original = frames(clip)
    mirrored = frames(make_variant(clip, tmp_path / "m.mp4", mirror=True, crf=0))
    assert mirrored.shape == original.shape
    assert np.abs(mirrored - original[:, :, ::-1]).mean() < 1  # lossless but for RGB/YUV rounding
    assert np.abs(mirrored - original).mean() > 20  # testsrc2 is not symmetric


@pytest.mark.parametrize("at", ["bottom", "top"])
def test_a_caption_bar_covers_its_share_of_the_height_along_its_edge(at):
    img = np.random.default_rng(0).integers(0, 256, (270, 480, 3), dtype=np.uint8)
    mask = changed(draw_caption(img, "wait for it", at=at, share=0.18), img)
    rows = mask.mean(axis=1)
    band = slice(270 - 49, 270) if at == "bottom" else slice(0, 49)
    assert rows[band].min() > 0.95 and rows.sum() == pytest.approx(0.18 * 270, abs=1.5)


@pytest.mark.parametrize("seed", range(len(STICKER_PLACES)))
def test_a_sticker_covers_about_15_percent_where_its_seed_puts_it(seed):
    img = np.full((270, 480, 3), 128, np.uint8)
    mask = changed(draw_sticker(img, seed=seed), img)
    assert 0.14 <= mask.mean() <= 0.17
    ys, xs = np.nonzero(mask)
    place = sticker_place(seed)
    if place != "off_centre":
        assert (ys.mean() < 135) == place.startswith("top") and (xs.mean() < 240) == place.endswith("left")


def test_the_watermark_jumps_between_opposite_corners():
    img = np.full((270, 480, 3), 128, np.uint8)
    first = changed(draw_watermark(img, "re.poster", t=0.5), img)
    later = changed(draw_watermark(img, "re.poster", t=3.5), img)
    assert np.argwhere(first).mean(axis=0).tolist() < [70, 200]  # top left
    assert (np.argwhere(later).mean(axis=0) > [200, 280]).all()  # bottom right
    assert 0.02 < first.mean() < 0.2
    large = changed(draw_watermark(img, "re.poster", t=0.5, size=0.2), img)
    ys, xs = np.nonzero(large)
    box = (ys.max() - ys.min()) * (xs.max() - xs.min()) / large.size
    assert large.mean() > 1.5 * first.mean() and 0.12 < box < 0.25  # "up to ~20 % of the frame"


def test_edits_compose_in_a_re_post(clip, tmp_path):
    original = frames(clip)
    repost = frames(make_variant(clip, tmp_path / "r.mp4", mirror=True, caption="so true", crf=0))
    band = original.shape[1] - int(round(original.shape[1] * 0.18))
    # Above the bar the picture is the mirror; the bar itself is dark.
    assert np.abs(repost[:, :band - 2] - original[:, :band - 2, ::-1]).mean() < 1
    assert repost[:, band + 2:].mean() < original[:, band + 2:].mean() / 2


def audio_of(path) -> np.ndarray | None:
    from media.samples import decode_audio

    return decode_audio(path)


def test_a_variant_keeps_the_sound_cut_and_delayed_like_its_picture(tmp_path):
    from media.samples import AUDIO_RATE, Soundtrack

    src = make_clip(tmp_path / "s.mp4", width=160, height=96, seconds=3.0, soundtrack=Soundtrack(music=5))
    original = audio_of(src)
    assert original is not None and abs(original.size / AUDIO_RATE - 3.0) < 0.1
    trimmed = audio_of(make_variant(src, tmp_path / "t.mp4", start_s=1.0, end_s=2.5, audio_bitrate=32_000))
    assert trimmed is not None and abs(trimmed.size / AUDIO_RATE - 1.5) < 0.1
    intro = audio_of(make_variant(src, tmp_path / "i.mp4", black_intro_s=1.0, audio_gain_db=-6.0))
    assert intro is not None and abs(intro.size / AUDIO_RATE - 4.0) < 0.1
    assert np.abs(intro[: int(0.9 * AUDIO_RATE)]).max() < 0.01  # the intro is silent
    loud = np.sqrt(np.mean(original[AUDIO_RATE:2 * AUDIO_RATE] ** 2))
    quiet = np.sqrt(np.mean(intro[2 * AUDIO_RATE:3 * AUDIO_RATE] ** 2))
    assert quiet / loud == pytest.approx(0.5, abs=0.08)  # -6 dB


def test_a_source_without_sound_gives_a_mute_variant(clip, tmp_path):
    assert audio_of(make_variant(clip, tmp_path / "m.mp4", mirror=True)) is None


def test_soundtracks_are_deterministic():
    from media.samples import Soundtrack

    a, b = Soundtrack(music=9, ambience="pink", ambience_seed=4), Soundtrack(music=9, ambience="pink", ambience_seed=5)
    assert np.array_equal(a.render(2.0), a.render(2.0)) and not np.array_equal(a.render(2.0), b.render(2.0))
    assert np.array_equal(a.render(1.0), a.render(2.0)[: a.render(1.0).size])  # a longer cut starts the same
