"""What each ingest step hands the next, as typed values.

Steps return these; the DAG file turns them into JSON for XCom (``to_json``) and back (``from_json``) at
its edge, so nothing in between handles dicts. The JSON is also what the catalog and the UI show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from catalog.videos import RenditionRecord
from media.codecs import Codec
from media.package import MASTER_NAME, RenditionSummary
from media.probe import SourceInfo
from media.transcode import EncodedRendition


@dataclass(frozen=True)
class ScanStats:
    frames: int
    decode_errors: int
    variable_frame_rate: bool
    samples: int


@dataclass(frozen=True)
class Source:
    """The probed upload and what its one full decode found."""

    info: SourceInfo
    scan: ScanStats

    def to_json(self) -> dict:
        return {**self.info.as_dict(), "scan": asdict(self.scan)}

    @classmethod
    def from_json(cls, data: dict) -> Source:
        return cls(SourceInfo.from_dict(data), ScanStats(**data["scan"]))


@dataclass(frozen=True)
class Dedup:
    frames: int
    duplicate_of: str | None  # the published original, under the "link" policy


@dataclass(frozen=True)
class EncodeJob:
    """One codec of the run (all its rungs, or the named ones) and the encoder chosen for it, once, where the
    run's plan was made."""

    codec: Codec
    encoder: str
    rungs: tuple[str, ...] | None = None  # None: every rung of the codec's ladder

    @property
    def label(self) -> str:
        """How the UI names the task instance: the codec, and the rungs when it encodes only some."""
        return self.codec.value if self.rungs is None else f"{self.codec.value} {'+'.join(self.rungs)}"

    def to_json(self) -> dict:
        return {"codec": self.codec.value, "encoder": self.encoder, "rungs": self.rungs}

    @classmethod
    def from_json(cls, data: dict) -> EncodeJob:
        rungs = data.get("rungs")
        return cls(Codec(data["codec"]), data["encoder"], None if rungs is None else tuple(rungs))


@dataclass(frozen=True)
class EncodePlan:
    """The run's encodes: ``first``, the H.264 rungs of the playable stage (None: no such stage), then the
    rest split by where they encode: software (CPU pool) or NVENC (the GPU pool/queue)."""

    cpu: tuple[EncodeJob, ...]
    gpu: tuple[EncodeJob, ...]
    first: EncodeJob | None = None


Renditions = tuple[EncodedRendition, ...]  # one transcode step's output (a codec's rungs, or the audio)


def renditions_to_json(renditions: Renditions) -> list[dict]:
    return [r.to_dict() for r in renditions]


def renditions_from_json(data: list[dict] | None) -> Renditions:
    return tuple(EncodedRendition.from_dict(r) for r in data or ())


@dataclass(frozen=True)
class Thumbnails:
    poster: str  # relative to the package directory
    sprite_vtt: str
    poster_time_s: float

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> Thumbnails | None:
        return None if data is None else cls(**data)


@dataclass(frozen=True)
class Package:
    bytes: int
    segment_seconds: float
    renditions: tuple[RenditionSummary, ...]
    master: str = MASTER_NAME  # the master playlist's name in the package directory


@dataclass(frozen=True)
class Publication:
    """A published package: what the catalog switches to."""

    prefix: str
    master_key: str
    renditions: tuple[RenditionRecord, ...]
    objects: int = 0
    bytes: int = 0
    poster_key: str | None = None
    sprite_vtt_key: str | None = None
    # The original sound's clip published with it (None: no audio, or the video uses another sound).
    sound_clip_key: str | None = None
    sound_clip_s: float | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "renditions": [asdict(r) for r in self.renditions]}


@dataclass(frozen=True)
class Embedding:
    model: str
    dimension: int
    screen_flags: tuple[str, ...] = ()  # what the content screen saw (held for review when any)
