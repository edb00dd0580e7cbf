"""Prefetch hints: which objects a player will fetch first for a video, named before it opens the master.

A feed card carries them so that a client can open the next videos' starts in one round trip, in parallel,
before the swipe, instead of discovering them one playlist at a time (master, then media playlist, then init
and first segment: three round trips in series). The rung is the one the ABR's start rule
(:class:`delivery.abr.AbrController`, no measurement yet) picks among the H.264 variants (the family every
client decodes, first in the player's ``VIDEO_PREFERENCE``) at ``START_BPS``, the Python player's default
``start_bitrate``; the variant bandwidth is the video rung's peak plus the audio's, as the master's
``BANDWIDTH`` (``media.hls``). A client that guesses otherwise simply ignores the hint.

Pure: keys in, keys out. The API turns keys into edge URLs (signed for a video that is not public).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from delivery.abr import AbrConfig, AbrController, ThroughputEstimator

START_BPS = 1_000_000
# The packager's names (``media.transcode``: ``hls_fmp4_init_filename`` and ``hls_segment_filename`` with
# FFmpeg's default start number 0); an integration test fetches them through the edge.
INIT_NAME = "init.mp4"
FIRST_SEGMENT_NAME = "seg_00000.m4s"
H264_CODES = ("avc1", "avc3")


@dataclass(frozen=True)
class HintRung:
    kind: str  # video | audio
    codecs: str
    bandwidth: int
    playlist_key: str


def _track(playlist_key: str) -> dict[str, str]:
    base = playlist_key.rsplit("/", 1)[0]
    return {"playlist": playlist_key, "init": f"{base}/{INIT_NAME}", "first_segment": f"{base}/{FIRST_SEGMENT_NAME}"}


def start_rung(bandwidths: Sequence[int], *, start_bps: float = START_BPS, config: AbrConfig | None = None) -> int:
    """The ABR's start decision over ascending ``bandwidths`` with no measurement yet (estimate = start_bps)."""
    abr = AbrController(list(bandwidths), ThroughputEstimator(default_bps=start_bps), config)
    return abr.choose(0.0, 0.0).index


def start_keys(master_key: str, rungs: Sequence[HintRung], *, start_bps: float = START_BPS) -> dict | None:
    """``{"master", "bandwidth", "video": {playlist, init, first_segment}, "audio": {...} | None}`` as object
    keys, or None when the video has no H.264 rung (nothing to hint that every client would use)."""
    video = sorted((r for r in rungs if r.kind == "video" and r.codecs.lower().startswith(H264_CODES)),
                   key=lambda r: r.bandwidth)
    if not video:
        return None
    audio = max((r for r in rungs if r.kind == "audio"), key=lambda r: r.bandwidth, default=None)
    extra = audio.bandwidth if audio else 0
    bandwidths = [r.bandwidth + extra for r in video]
    i = start_rung(bandwidths, start_bps=start_bps)
    return {"master": master_key, "bandwidth": bandwidths[i], "video": _track(video[i].playlist_key),
            "audio": _track(audio.playlist_key) if audio else None}


def hint_urls(keys: dict, url: Callable[[str], str]) -> dict:
    """The client's form: every key through ``url`` (the edge URL of a key)."""
    def track(t: dict | None) -> dict | None:
        if t is None:
            return None
        return {"rendition_url": url(t["playlist"]), "init_url": url(t["init"]),
                "first_segment_url": url(t["first_segment"])}

    video = track(keys["video"])
    assert video is not None
    return {"master_url": url(keys["master"]), **video, "bandwidth": keys["bandwidth"], "audio": track(keys["audio"])}


@dataclass(frozen=True)
class StartHint:
    """A card's ``prefetch`` as a player reads it: the objects to fetch, all at once, before the swipe."""

    master_url: str
    rendition_url: str
    init_url: str
    first_segment_url: str
    audio: tuple[str, str, str] | None = None  # rendition, init, first segment

    @classmethod
    def from_card(cls, prefetch: Mapping | None) -> StartHint | None:
        """None for a card without hints (or with a malformed ``prefetch``: a hint is only ever a help)."""
        if not isinstance(prefetch, Mapping):
            return None
        try:
            audio = prefetch.get("audio")
            a = (str(audio["rendition_url"]), str(audio["init_url"]), str(audio["first_segment_url"])) \
                if isinstance(audio, Mapping) else None
            return cls(str(prefetch["master_url"]), str(prefetch["rendition_url"]), str(prefetch["init_url"]),
                       str(prefetch["first_segment_url"]), a)
        except KeyError:
            return None

    def urls(self) -> list[str]:
        """Master first, then each track's playlist, init and first segment."""
        return [self.master_url, self.rendition_url, self.init_url, self.first_segment_url, *(self.audio or ())]
