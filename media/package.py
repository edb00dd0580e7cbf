"""From a source file to a complete HLS package on disk: ladder, renditions, master playlist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from media.hls import AudioRendition, VideoVariant, build_master, measure_media_playlist
from media.ladder import LadderConfig, LadderPlan, plan_ladder
from media.probe import SourceInfo
from media.transcode import EncodedRendition, ProgressFn, transcode_ladder

MASTER_NAME = "master.m3u8"


@dataclass(frozen=True)
class RenditionSummary:
    """One rendition as the catalog records it: its own bit rates (audio not folded in)."""

    name: str
    kind: str
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
        return [RenditionSummary(name=r.name, kind=r.kind, codecs=r.codecs, encoder=r.encoder, width=r.width,
                                 height=r.height, peak_bps=stats[r.playlist].peak_bps,
                                 average_bps=stats[r.playlist].average_bps, playlist=r.playlist)
                for r in self.renditions]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())


def package_hls(src: str | Path, out_dir: str | Path, source: SourceInfo, *, ladder: LadderConfig | None = None,
                preset: str = "veryfast", crf: int = 23, progress: ProgressFn | None = None) -> HlsPackage:
    """Plan the ladder for ``source``, encode it once-decoded, and write ``out_dir/master.m3u8`` last."""
    out_dir = Path(out_dir)
    width, height = source.display_size
    plan = plan_ladder(width, height, source.fps, source.audio is not None, ladder)
    renditions = transcode_ladder(src, out_dir, plan, preset=preset, crf=crf, rotation=source.rotation,
                                  declared_duration_s=source.duration_s, progress=progress)
    variants = tuple(
        VideoVariant(uri=r.playlist, width=r.width, height=r.height, frame_rate=r.frame_rate, codecs=r.codecs,
                     stats=measure_media_playlist(out_dir / r.playlist))
        for r in renditions if r.kind == "video"
    )
    audio = next((
        AudioRendition(uri=r.playlist, codecs=r.codecs, channels=r.channels,
                       stats=measure_media_playlist(out_dir / r.playlist))
        for r in renditions if r.kind == "audio"), None)
    (out_dir / MASTER_NAME).write_text(build_master(list(variants), audio))
    return HlsPackage(directory=out_dir, master=MASTER_NAME, plan=plan, renditions=tuple(renditions),
                      variants=variants, audio=audio)
