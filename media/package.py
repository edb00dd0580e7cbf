"""From a source file to a complete HLS package on disk: ladder, renditions per codec, master playlist.

The steps are separate functions so an orchestrator can run the codecs in parallel tasks
(:func:`media.transcode.encode_video` per codec, :func:`media.transcode.encode_audio`) and then
:func:`finalize_package`; :func:`package_hls` runs them all in one process (CLI, benchmarks).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from media.hls import AudioRendition, VideoVariant, build_master, measure_media_playlist
from media.iframes import write_iframe_playlist
from media.ladder import LadderConfig, LadderPlan, plan_ladder
from media.probe import SourceInfo
from media.transcode import EncodedRendition, ProgressFn, encode_audio, encode_video, rungs_for

MASTER_NAME = "master.m3u8"


@dataclass(frozen=True)
class RenditionSummary:
    """One rendition as the catalog records it: its own bit rates (audio not folded in)."""

    name: str
    kind: str
    codec: str
    codecs: str
    encoder: str
    width: int
    height: int
    peak_bps: int
    average_bps: int
    playlist: str  # relative to the package directory


@dataclass(frozen=True)
class HlsPackage:
    directory: Path
    master: str  # relative to directory
    plan: LadderPlan
    renditions: tuple[EncodedRendition, ...]
    variants: tuple[VideoVariant, ...]
    audio: AudioRendition | None

    def summaries(self) -> list[RenditionSummary]:
        stats = {v.uri: v.stats for v in self.variants}
        if self.audio is not None:
            stats[self.audio.uri] = self.audio.stats
        return [RenditionSummary(name=r.name, kind=r.kind, codec=r.codec, codecs=r.codecs, encoder=r.encoder,
                                 width=r.width, height=r.height, peak_bps=stats[r.playlist].peak_bps,
                                 average_bps=stats[r.playlist].average_bps, playlist=r.playlist)
                for r in self.renditions]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())


def plan_for(source: SourceInfo, ladder: LadderConfig | None = None) -> LadderPlan:
    width, height = source.display_size
    return plan_ladder(width, height, source.fps, source.audio is not None, ladder)


def finalize_package(out_dir: str | Path, plan: LadderPlan, renditions: Sequence[EncodedRendition], *,
                     master: str = MASTER_NAME) -> HlsPackage:
    """Measure every rendition, write I-frame playlists, then the master playlist (last), named ``master``:
    a first, partial master (the playable stage) and the full one live side by side in one package."""
    out_dir = Path(out_dir)
    variants = []
    for r in renditions:
        if r.kind != "video":
            continue
        iframes = write_iframe_playlist(out_dir / r.playlist)
        variants.append(VideoVariant(uri=r.playlist, width=r.width, height=r.height, frame_rate=r.frame_rate,
                                     codecs=r.codecs, stats=measure_media_playlist(out_dir / r.playlist),
                                     iframe_uri=f"{r.playlist.rsplit('/', 1)[0]}/{iframes.uri}",
                                     iframe_peak_bps=iframes.peak_bps))
    audio = next((AudioRendition(uri=r.playlist, codecs=r.codecs, channels=r.channels,
                                 stats=measure_media_playlist(out_dir / r.playlist))
                  for r in renditions if r.kind == "audio"), None)
    (out_dir / master).write_text(build_master(variants, audio))
    return HlsPackage(directory=out_dir, master=master, plan=plan, renditions=tuple(renditions),
                      variants=tuple(variants), audio=audio)


def package_hls(src: str | Path, out_dir: str | Path, source: SourceInfo, *, ladder: LadderConfig | None = None,
                codecs: Sequence[str] = ("h264",), max_short_side: Mapping[str, int] | None = None,
                encoders: Mapping[str, str] | None = None, preset: str = "veryfast", crf: int = 23,
                progress: ProgressFn | None = None) -> HlsPackage:
    """Plan the ladder for ``source``, encode each codec once-decoded, audio once, and write the master.

    Only what the package consists of (``<codec>/``, ``audio/``, ``master.m3u8``) is replaced or, on
    failure, removed; anything else in ``out_dir`` is left alone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    owned = [out_dir / c for c in codecs] + [out_dir / "audio", out_dir / MASTER_NAME]
    (out_dir / MASTER_NAME).unlink(missing_ok=True)  # a stale master must never name new renditions
    plan = plan_for(source, ladder)
    renditions: list[EncodedRendition] = []
    try:
        for codec in codecs:
            rungs = rungs_for(plan, codec, (max_short_side or {}).get(codec))
            renditions += encode_video(src, out_dir, plan, codec, rungs=rungs, encoder=(encoders or {}).get(codec),
                                       preset=preset, crf=crf, rotation=source.rotation,
                                       declared_duration_s=source.duration_s, progress=progress)
        renditions += encode_audio(src, out_dir, plan)
        return finalize_package(out_dir, plan, renditions)
    except BaseException:
        for path in owned:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
