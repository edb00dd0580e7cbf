"""The PyAV engine: decode the source once per codec, scale per rung, encode into fMP4 HLS.

Every rung receives the same frames with the same output timestamps, and a keyframe is forced at the
first frame of each GOP window, so segment boundaries line up across rungs and codecs (what ABR
switching needs). Each codec writes only ``<package>/<codec>/``, and audio only ``<package>/audio/``,
so codecs can be encoded by parallel tasks into one package directory.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from media.codecs import audio_codec_string, video_codec_string
from media.encoders import BITRATE_SHARE, encoder_options, select_encoder
from media.errors import MediaError
from media.ladder import LadderPlan, Rung

AUDIO_RATE = 48_000
AAC_FRAME = 1024
# Below this share of the declared duration actually decoded, the upload is called truncated.
MIN_DECODED_SHARE = 0.9


@dataclass(frozen=True)
class EncodedRendition:
    name: str  # unique in the package: "h264-720p", "av1-360p", "audio"
    kind: str  # "video" | "audio"
    codec: str  # "h264" | "hevc" | "av1" | "aac"
    encoder: str
    playlist: str  # relative to the package directory
    codecs: str  # RFC 6381
    width: int = 0
    height: int = 0
    frame_rate: Fraction = Fraction(0)
    channels: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frame_rate"] = str(self.frame_rate)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EncodedRendition:
        return cls(**{**d, "frame_rate": Fraction(d["frame_rate"])})


ProgressFn = Callable[[float], None]


def rungs_for(plan: LadderPlan, codec: str, max_short_side: int | None = None) -> list[Rung]:
    """The plan's rungs for one codec: bit budget scaled, optionally capped in size."""
    share = BITRATE_SHARE[codec]
    return [Rung(r.name, r.width, r.height, int(r.max_bitrate * share)) for r in plan.rungs
            if max_short_side is None or min(r.width, r.height) <= max_short_side]


def _hls_options(directory: Path, segment_seconds: float, *, video: bool) -> dict[str, str]:
    return {
        # For video, shorter than a GOP: the muxer cuts at every (forced, aligned) keyframe and nowhere else.
        "hls_time": f"{segment_seconds / 2 if video else segment_seconds:.3f}",
        "hls_playlist_type": "vod",
        "hls_list_size": "0",
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": "init.mp4",
        "hls_segment_filename": str(directory / "seg_%05d.m4s"),
        "hls_flags": "independent_segments",
    }


def _open_hls(directory: Path, options: dict[str, str]) -> av.container.OutputContainer:
    directory.mkdir(parents=True, exist_ok=True)
    return av.open(str(directory / "index.m3u8"), "w", format="hls", options=options)


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


class _RungWorker:
    """One rung's scale + encode + mux on its own thread (PyAV releases the GIL in both), fed in order.

    The decoder thread hands every output frame to each rung's bounded queue, so all rungs encode in
    parallel on a multi-core host instead of one after another. A failing worker keeps draining its
    queue (so the decoder never blocks on it) and leaves its error in :attr:`error`.
    """

    def __init__(self, rung: Rung, container: av.container.OutputContainer, stream: av.VideoStream,
                 scaler: VideoReformatter, frame_tb: Fraction) -> None:
        self.rung, self.container, self.stream, self.scaler, self.frame_tb = rung, container, stream, scaler, frame_tb
        self.queue: queue.Queue[tuple[av.VideoFrame, int, bool] | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"encode-{rung.name}", daemon=True)
        self.thread.start()

    def submit(self, frame: av.VideoFrame, pts: int, key: bool) -> None:
        self.queue.put((frame, pts, key))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            frame, pts, key = item
            try:
                scaled = self.scaler.reformat(frame, self.rung.width, self.rung.height, "yuv420p",
                                              interpolation="BICUBIC")
                # For the source-sized rung this may be the decoded frame itself. Only this thread sets its
                # pts/time_base/pict_type (other rungs read its pixels and overwrite those on their own
                # copies), and the encoder captures them when the frame is sent.
                scaled.pts, scaled.time_base = pts, self.frame_tb
                # The source's own picture types must not leak into our GOP structure.
                scaled.pict_type = PictureType.I if key else PictureType.NONE
                self.container.mux(self.stream.encode(scaled))
            except BaseException as exc:  # noqa: BLE001 - handed to the decoder thread via self.error
                self.error = exc
        if self.error is None:
            try:
                self.container.mux(self.stream.encode(None))
            except BaseException as exc:  # noqa: BLE001
                self.error = exc
        self.container.close()

    def close(self) -> None:
        """Flush and close the rung's output; the decoder thread then checks :attr:`error`."""
        self.queue.put(None)
        self.thread.join()


def _fresh(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)  # a retry starts from nothing


def encode_video(src: str | Path, package_dir: str | Path, plan: LadderPlan, codec: str = "h264", *,
                 rungs: list[Rung] | None = None, encoder: str | None = None, preset: str = "veryfast",
                 crf: int = 23, rotation: int = 0, declared_duration_s: float | None = None,
                 progress: ProgressFn | None = None) -> list[EncodedRendition]:
    """Encode one codec's rungs into ``package_dir/<codec>/<rung>/`` from a single decode.

    Only the given rungs' directories are replaced: a codec's ladder may be encoded in parts (the first,
    playable rungs, then the rest). Raises :class:`MediaError` when the source turns out corrupt or
    truncated; those directories are then removed so nothing half-written is left for a publisher.
    """
    out_dir = Path(package_dir) / codec
    rungs = rungs if rungs is not None else rungs_for(plan, codec)
    for rung in rungs:
        _fresh(out_dir / rung.name)
    encoder = encoder or select_encoder(codec)
    try:
        return _encode_video(Path(src), out_dir, plan, codec, rungs, encoder, preset, crf, rotation,
                             declared_duration_s, progress)
    except BaseException:
        for rung in rungs:
            shutil.rmtree(out_dir / rung.name, ignore_errors=True)
        with contextlib.suppress(OSError):  # the codec's directory too, when nothing else is in it
            out_dir.rmdir()
        raise


def _encode_video(src: Path, out_dir: Path, plan: LadderPlan, codec: str, rungs: list[Rung], encoder: str,
                  preset: str, crf: int, rotation: int, declared_duration_s: float | None,
                  progress: ProgressFn | None) -> list[EncodedRendition]:
    fps = plan.fps
    frame_tb = Fraction(1, 1) / fps
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as exc:
        raise MediaError("not_media", f"not a media file FFmpeg can read ({exc})") from exc
    outputs = []
    with inp:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        upright = _Upright(vin, rotation) if rotation else None
        for rung in rungs:
            container = _open_hls(out_dir / rung.name, _hls_options(out_dir / rung.name, plan.segment_seconds,
                                                                    video=True))
            stream = container.add_stream(encoder, rate=fps,
                                          options=encoder_options(encoder, rung, plan.gop_frames, preset=preset,
                                                                  crf=crf))
            stream.width, stream.height, stream.pix_fmt = rung.width, rung.height, "yuv420p"
            stream.codec_context.time_base = frame_tb
            if codec == "hevc":
                stream.codec_tag = "hvc1"  # Apple players need hvc1 (parameter sets out of band), not hev1
            outputs.append((rung, container, stream, VideoReformatter()))

        workers = [_RungWorker(rung, container, stream, scaler, frame_tb)
                   for rung, container, stream, scaler in outputs]
        t0: float | None = None
        last_pts = last_gop = -1
        last_time = 0.0
        previous: av.VideoFrame | None = None
        try:
            for packet in inp.demux(vin):
                for frame in packet.decode():
                    for pic in (upright(frame) if upright else (frame,)):
                        if pic.time is None:
                            continue
                        if t0 is None:
                            t0 = pic.time
                        pts = round((pic.time - t0) / frame_tb)
                        if pts <= last_pts:
                            continue  # faster than the output rate (VFR burst): drop, as an fps filter would
                        # Slower than the output rate (VFR gap): repeat the previous picture, as an fps
                        # filter would, so the output is truly constant-rate.
                        slots = range(last_pts + 1, pts + 1) if previous is not None else range(pts, pts + 1)
                        for slot in slots:
                            picture = pic if slot == pts else previous
                            gop = slot // plan.gop_frames
                            key, last_gop = gop != last_gop, gop
                            for worker in workers:
                                worker.submit(picture, slot, key)
                        previous, last_pts, last_time = pic, pts, pic.time - t0
                    if progress and declared_duration_s:
                        progress(min(1.0, last_time / declared_duration_s))
        except av.error.FFmpegError as exc:
            raise MediaError("corrupt", f"the video could not be decoded to the end ({exc})") from exc
        finally:
            for worker in workers:
                worker.close()
        for worker in workers:
            if worker.error is not None:
                raise worker.error
        if last_pts < 0:
            raise MediaError("undecodable", "no video frame could be decoded")
        decoded = last_time + float(frame_tb)
        if declared_duration_s and decoded < MIN_DECODED_SHARE * declared_duration_s:
            raise MediaError("truncated", f"only {decoded:.1f} s of the declared {declared_duration_s:.1f} s "
                                          "could be decoded; the upload looks truncated")
    return [EncodedRendition(
        name=f"{codec}-{rung.name}", kind="video", codec=codec, encoder=encoder,
        playlist=f"{codec}/{rung.name}/index.m3u8",
        codecs=video_codec_string((out_dir / rung.name / "init.mp4").read_bytes()),
        width=rung.width, height=rung.height, frame_rate=fps) for rung, *_ in outputs]


def encode_audio(src: str | Path, package_dir: str | Path, plan: LadderPlan) -> list[EncodedRendition]:
    """The AAC rendition (``package_dir/audio/``), or nothing when the plan has no audio."""
    out_dir = Path(package_dir) / "audio"
    _fresh(out_dir)
    if not plan.audio_bitrate:
        return []
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.audio:
                return []
            ain = inp.streams.audio[0]
            container = _open_hls(out_dir, _hls_options(out_dir, plan.segment_seconds, video=False))
            stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            stream.bit_rate = plan.audio_bitrate
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=AAC_FRAME)
            start = float(inp.streams.video[0].start_time * inp.streams.video[0].time_base) \
                if inp.streams.video and inp.streams.video[0].start_time is not None else 0.0
            samples: int | None = None
            for frame in inp.decode(ain):
                if frame.time is None:
                    continue
                if samples is None:  # keep A/V sync: audio that starts after the video starts later too
                    samples = max(0, round((frame.time - start) * AUDIO_RATE))
                for af in resampler.resample(frame):
                    af.pts, af.time_base = samples, Fraction(1, AUDIO_RATE)
                    samples += af.samples
                    container.mux(stream.encode(af))
            for af in resampler.resample(None):
                af.pts, af.time_base = samples or 0, Fraction(1, AUDIO_RATE)
                samples = (samples or 0) + af.samples
                container.mux(stream.encode(af))
            container.mux(stream.encode(None))
            container.close()
    except av.error.FFmpegError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise MediaError("corrupt", f"the audio could not be decoded ({exc})") from exc
    return [EncodedRendition(name="audio", kind="audio", codec="aac", encoder="aac", playlist="audio/index.m3u8",
                             codecs=audio_codec_string((out_dir / "init.mp4").read_bytes()), channels=2)]
