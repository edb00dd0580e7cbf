"""The PyAV engine: decode the source once, scale per rung, encode H.264 + AAC into fMP4 HLS.

Every rung receives the same frames with the same output timestamps, and a keyframe is forced at the
first frame of each GOP window, so segment boundaries line up across rungs (what ABR switching needs).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from media.codecs import audio_codec_string, video_codec_string
from media.errors import MediaError
from media.ladder import LadderPlan, Rung

AUDIO_RATE = 48_000
AAC_FRAME = 1024
# Below this share of the declared duration actually decoded, the upload is called truncated.
MIN_DECODED_SHARE = 0.9


@dataclass(frozen=True)
class EncodedRendition:
    name: str
    kind: str  # "video" | "audio"
    encoder: str
    playlist: str  # relative to the package directory
    codecs: str
    width: int = 0
    height: int = 0
    frame_rate: Fraction = Fraction(0)
    channels: int = 0


ProgressFn = Callable[[float], None]


def _hls_options(directory: Path, segment_seconds: float) -> dict[str, str]:
    return {
        # Shorter than a GOP, so the muxer cuts at every (forced, aligned) keyframe and nowhere else.
        "hls_time": f"{segment_seconds / 2:.3f}",
        "hls_playlist_type": "vod",
        "hls_list_size": "0",
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": "init.mp4",
        "hls_segment_filename": str(directory / "seg_%05d.m4s"),
        "hls_flags": "independent_segments",
    }


def _audio_hls_options(directory: Path, segment_seconds: float) -> dict[str, str]:
    opts = _hls_options(directory, segment_seconds)
    opts["hls_time"] = f"{segment_seconds:.3f}"
    return opts


def _x264_options(rung: Rung, plan: LadderPlan, preset: str, crf: int) -> dict[str, str]:
    g = plan.gop_frames
    return {
        "preset": preset,
        "profile": "high",
        "crf": str(crf),
        "maxrate": str(rung.max_bitrate),
        "bufsize": str(rung.bufsize),
        "g": str(g),
        "forced-idr": "1",
        # Fixed GOPs and no scene-cut keyframes: identical cut points on every rung and codec.
        "x264-params": f"keyint={g}:min-keyint={g}:scenecut=0:open-gop=0",
    }


class _Upright:
    """Turns decoded frames the way their display matrix says (phones record sideways), in FFmpeg.

    ``rotation`` is PyAV's ``frame.rotation``: counter-clockwise degrees, so 90 means "turn the picture a
    quarter counter-clockwise to show it" (checked against FFmpeg's own autorotate in the tests).
    """

    FILTERS: dict[int, list[tuple[str, str | None]]] = {
        90: [("transpose", "cclock")], 180: [("hflip", None), ("vflip", None)], 270: [("transpose", "clock")],
    }

    def __init__(self, stream: av.VideoStream, rotation: int) -> None:
        self.graph = av.filter.Graph()
        node = self.graph.add_buffer(template=stream)
        for name, arg in self.FILTERS[rotation]:
            nxt = self.graph.add(name, arg) if arg else self.graph.add(name)
            node.link_to(nxt)
            node = nxt
        sink = self.graph.add("buffersink")
        node.link_to(sink)
        self.graph.configure()

    def __call__(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        self.graph.push(frame)
        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out


class _Output:
    """One HLS rendition being written: its container, stream and (for video) its scaler."""

    def __init__(self, directory: Path, options: dict[str, str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.container = av.open(str(directory / "index.m3u8"), "w", format="hls", options=options)


def transcode_ladder(src: str | Path, out_dir: str | Path, plan: LadderPlan, *, preset: str = "veryfast",
                     crf: int = 23, rotation: int = 0, declared_duration_s: float | None = None,
                     progress: ProgressFn | None = None) -> list[EncodedRendition]:
    """Encode ``src`` into ``out_dir/<rung>/index.m3u8`` (+ ``out_dir/audio``) with one decode.

    Raises :class:`MediaError` when the source turns out corrupt or truncated; ``out_dir`` is then
    removed so nothing half-written is left for a publisher to pick up.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a retry starts from nothing
    out_dir.mkdir(parents=True)
    try:
        return _transcode(Path(src), out_dir, plan, preset, crf, rotation, declared_duration_s, progress)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _transcode(src: Path, out_dir: Path, plan: LadderPlan, preset: str, crf: int, rotation: int,
               declared_duration_s: float | None, progress: ProgressFn | None) -> list[EncodedRendition]:
    fps = plan.fps
    frame_tb = Fraction(1, 1) / fps
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as exc:
        raise MediaError("not_media", f"not a media file FFmpeg can read ({exc})") from exc
    with inp:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if (plan.audio_bitrate and inp.streams.audio) else None
        upright = _Upright(vin, rotation) if rotation else None

        video_outs: list[tuple[Rung, _Output, av.VideoStream, VideoReformatter]] = []
        for rung in plan.rungs:
            out = _Output(out_dir / rung.name, _hls_options(out_dir / rung.name, plan.segment_seconds))
            stream = out.container.add_stream("libx264", rate=fps, options=_x264_options(rung, plan, preset, crf))
            stream.width, stream.height, stream.pix_fmt = rung.width, rung.height, "yuv420p"
            stream.codec_context.time_base = frame_tb
            video_outs.append((rung, out, stream, VideoReformatter()))

        audio_out = audio_stream = resampler = None
        if ain is not None:
            audio_out = _Output(out_dir / "audio", _audio_hls_options(out_dir / "audio", plan.segment_seconds))
            audio_stream = audio_out.container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            audio_stream.bit_rate = plan.audio_bitrate
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=AAC_FRAME)

        t0: float | None = None
        last_pts = -1
        last_gop = -1
        audio_samples: int | None = None
        last_video_time = 0.0
        duration = declared_duration_s or 0.0
        streams = [vin] + ([ain] if ain is not None else [])
        try:
            for packet in inp.demux(*streams):
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    if t0 is None:
                        t0 = frame.time
                    if isinstance(frame, av.VideoFrame):
                        for pic in (upright(frame) if upright else (frame,)):
                            if pic.time is None:
                                continue
                            pts = round((pic.time - t0) / frame_tb)
                            if pts <= last_pts:
                                continue  # faster than the output rate (VFR burst): drop, as an fps filter would
                            last_pts = pts
                            last_video_time = pic.time - t0
                            gop = pts // plan.gop_frames
                            key = gop != last_gop
                            last_gop = gop
                            for rung, out, stream, scaler in video_outs:
                                scaled = scaler.reformat(pic, rung.width, rung.height, "yuv420p",
                                                         interpolation="BICUBIC")
                                scaled.pts, scaled.time_base = pts, frame_tb
                                # The source's own picture types must not leak into our GOP structure.
                                scaled.pict_type = PictureType.I if key else PictureType.NONE
                                out.container.mux(stream.encode(scaled))
                        if progress and duration:
                            progress(min(1.0, last_video_time / duration))
                    elif audio_out is not None:
                        if audio_samples is None:
                            audio_samples = max(0, round((frame.time - t0) * AUDIO_RATE))
                        for af in resampler.resample(frame):
                            af.pts, af.time_base = audio_samples, Fraction(1, AUDIO_RATE)
                            audio_samples += af.samples
                            audio_out.container.mux(audio_stream.encode(af))
        except av.error.FFmpegError as exc:
            raise MediaError("corrupt", f"the video could not be decoded to the end ({exc})") from exc

        if last_pts < 0:
            raise MediaError("undecodable", "no video frame could be decoded")
        decoded = last_video_time + float(frame_tb)
        if declared_duration_s and decoded < MIN_DECODED_SHARE * declared_duration_s:
            raise MediaError("truncated", f"only {decoded:.1f} s of the declared {declared_duration_s:.1f} s "
                                          "could be decoded; the upload looks truncated")

        for _rung, out, stream, _ in video_outs:
            out.container.mux(stream.encode(None))
            out.container.close()
        if audio_out is not None:
            for af in resampler.resample(None):
                af.pts, af.time_base = audio_samples, Fraction(1, AUDIO_RATE)
                audio_samples += af.samples
                audio_out.container.mux(audio_stream.encode(af))
            audio_out.container.mux(audio_stream.encode(None))
            audio_out.container.close()

    renditions = [
        EncodedRendition(
            name=rung.name, kind="video", encoder="libx264", playlist=f"{rung.name}/index.m3u8",
            codecs=video_codec_string((out_dir / rung.name / "init.mp4").read_bytes()),
            width=rung.width, height=rung.height, frame_rate=fps,
        )
        for rung, *_ in video_outs
    ]
    if audio_out is not None:
        renditions.append(EncodedRendition(
            name="audio", kind="audio", encoder="aac", playlist="audio/index.m3u8",
            codecs=audio_codec_string((out_dir / "audio" / "init.mp4").read_bytes()), channels=2,
        ))
    if progress:
        progress(1.0)
    return renditions
