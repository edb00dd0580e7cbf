"""A video's sound as its own short file: the first ``max_seconds`` of its audio as AAC in an ``.m4a``.

A sound page plays this clip (a plain progressive file: one request, seekable by byte range, playable by an
``<audio>`` element in every browser without hls.js), not the video's HLS audio rendition, which would need a
player and would reveal the video's publication layout. Encoded from the source, like the ladder's audio
(``media.transcode.encode_audio``: same rate, layout and A/V start handling), but cut at the limit, so a
10-minute upload costs a 60 s encode. Pure: a path in, a file and its facts out.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from media.errors import MediaError

SAMPLE_RATE = 48_000
AAC_FRAME = 1024
MAX_SECONDS = 60.0
BITRATE = 96_000  # a preview: enough for music on a phone speaker, ~720 KiB a minute
CLIP_NAME = "clip.m4a"


@dataclass(frozen=True)
class SoundClip:
    path: Path
    duration_s: float  # of the clip (at most max_seconds), not of the whole track
    bytes: int


def write_sound_clip(src: str | Path, out: str | Path, *, max_seconds: float = MAX_SECONDS,
                     bitrate: int = BITRATE) -> SoundClip | None:
    """Write the first ``max_seconds`` of ``src``'s first audio stream to ``out`` (AAC-LC stereo, 48 kHz, an
    MP4 with its index first so playback starts before the download ends). None, and no file, when ``src``
    has no audio stream or no decodable audio sample."""
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    limit = int(max_seconds * SAMPLE_RATE)
    written = 0
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.audio:
                return None
            ain = inp.streams.audio[0]
            container = av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"})
            try:
                stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
                stream.bit_rate = bitrate
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE, frame_size=AAC_FRAME)
                tb = Fraction(1, SAMPLE_RATE)

                def encode(frames: list) -> bool:
                    """Mux what fits under the limit; False once it is reached."""
                    nonlocal written
                    for af in frames:
                        if written >= limit:
                            return False
                        af.pts, af.time_base = written, tb
                        written += af.samples
                        container.mux(stream.encode(af))
                    return written < limit

                for frame in inp.decode(ain):
                    if frame.time is None:
                        continue
                    if not encode(resampler.resample(frame)):
                        break
                else:
                    encode(resampler.resample(None))
                container.mux(stream.encode(None))
            finally:
                container.close()
    except av.error.FFmpegError as exc:
        out.unlink(missing_ok=True)
        raise MediaError("corrupt", f"the audio could not be decoded ({exc})") from exc
    if written == 0:
        out.unlink(missing_ok=True)
        return None
    return SoundClip(path=out, duration_s=round(min(written, limit) / SAMPLE_RATE, 3), bytes=out.stat().st_size)


def clip_duration_s(path: str | Path) -> float:
    """A clip's duration from its container (the publish step may run where the encode did not)."""
    try:
        with av.open(str(path)) as f:
            return round((f.duration or 0) / av.time_base, 3)
    except av.error.FFmpegError as exc:
        raise MediaError("corrupt", f"the sound clip could not be read ({exc})") from exc
