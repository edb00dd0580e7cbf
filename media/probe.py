"""Open an upload with PyAV and describe its streams, or say why it is not a usable video."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from media.errors import MediaError


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class SourceInfo:
    container: str
    size_bytes: int
    duration_s: float
    video_codec: str
    width: int
    height: int
    fps: Fraction
    pix_fmt: str
    bit_rate: int | None
    audio: AudioInfo | None
    rotation: int = 0  # counter-clockwise degrees a player turns the picture (PyAV's frame.rotation)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as viewers see it, after rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    def as_dict(self) -> dict:
        """JSON-safe form (Airflow XCom, catalog columns)."""
        return {
            "container": self.container,
            "size_bytes": self.size_bytes,
            "duration_s": self.duration_s,
            "video_codec": self.video_codec,
            "width": self.width,
            "height": self.height,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "pix_fmt": self.pix_fmt,
            "bit_rate": self.bit_rate,
            "audio": None if self.audio is None else vars(self.audio).copy(),
            "rotation": self.rotation,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SourceInfo:
        audio = d.get("audio")
        return cls(
            container=d["container"],
            size_bytes=int(d["size_bytes"]),
            duration_s=float(d["duration_s"]),
            video_codec=d["video_codec"],
            width=int(d["width"]),
            height=int(d["height"]),
            fps=Fraction(d["fps"]),
            pix_fmt=d["pix_fmt"],
            bit_rate=d.get("bit_rate"),
            audio=None if audio is None else AudioInfo(**audio),
            rotation=int(d.get("rotation", 0)),
        )


def probe(path: str | os.PathLike[str]) -> SourceInfo:
    """Describe ``path``; raise :class:`MediaError` when it is not a decodable video.

    Besides reading headers this decodes the first video frame, so a file whose headers parse but
    whose pictures do not is rejected here rather than deep inside the transcode.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise MediaError("empty_file", "the uploaded file is empty")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if _looks_like_iso_bmff(path):
            raise MediaError("truncated", "the MP4/MOV file is incomplete or corrupt (was the upload cut short?)"
                             f" ({exc.strerror or exc})") from exc
        raise MediaError("not_media", f"not a media file FFmpeg can read ({exc.strerror or exc})") from exc
    with container:
        if not container.streams.video:
            raise MediaError("no_video_stream", "the file has no video stream")
        vstream = container.streams.video[0]
        ctx = vstream.codec_context
        if not ctx.width or not ctx.height:
            raise MediaError("undecodable", "the video stream has no picture size")
        fps = vstream.average_rate or vstream.guessed_rate or Fraction(30)
        duration = _duration_s(container, vstream)
        if duration <= 0:
            raise MediaError("undecodable", "the video has no duration")
        rotation = _decode_first_frame(container, vstream)
        audio = None
        if container.streams.audio:
            actx = container.streams.audio[0].codec_context
            audio = AudioInfo(codec=actx.name, sample_rate=actx.sample_rate or 0, channels=actx.channels or 0)
        return SourceInfo(
            container=container.format.name,
            size_bytes=size,
            duration_s=duration,
            video_codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            fps=Fraction(fps),
            pix_fmt=ctx.format.name if ctx.format else "unknown",
            bit_rate=container.bit_rate or None,
            audio=audio,
            rotation=rotation,
        )


def _looks_like_iso_bmff(path: Path) -> bool:
    """An MP4/MOV starts with a box header whose type is ftyp (or a few legacy top-level boxes)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")


def _duration_s(container: av.container.InputContainer, vstream: av.VideoStream) -> float:
    if vstream.duration and vstream.time_base:
        return float(vstream.duration * vstream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def normalise_rotation(degrees: float | None) -> int:
    """The nearest right angle in [0, 360)."""
    return int(round((degrees or 0) / 90.0)) % 4 * 90


def _decode_first_frame(container: av.container.InputContainer, vstream: av.VideoStream) -> int:
    """Decode one picture; its display rotation."""
    try:
        for packet in container.demux(vstream):
            for frame in packet.decode():
                return normalise_rotation(frame.rotation)
    except av.error.FFmpegError as exc:
        raise MediaError("undecodable", f"the video stream cannot be decoded ({exc.strerror or exc})") from exc
    raise MediaError("undecodable", "the video stream holds no decodable picture")
