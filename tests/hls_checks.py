"""Conformance checks on a published HLS package, shared by the DAG and end-to-end tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import m3u8

from adapters.s3 import OriginStore


@dataclass
class RenditionCheck:
    uri: str
    frames: int
    segment_starts: list[float]


def download_prefix(store: OriginStore, bucket: str, prefix: str, dest: Path) -> list[str]:
    keys = store.list_keys(bucket, prefix + "/")
    for key in keys:
        target = dest / key[len(prefix) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get(bucket, key).body)
    return keys


def check_media_playlist(root: Path, uri: str, *, video: bool) -> RenditionCheck:
    """Parse, check durations against TARGETDURATION, decode every segment (keyframe first for video)."""
    path = root / uri
    playlist = m3u8.load(str(path))
    assert playlist.is_endlist and playlist.playlist_type == "vod"
    assert playlist.segment_map, f"{uri}: fMP4 playlist without EXT-X-MAP"
    init = (path.parent / playlist.segment_map[0].uri).read_bytes()
    starts, t, frames = [], 0.0, 0
    for seg in playlist.segments:
        # RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer must not exceed the target duration.
        assert round(seg.duration) <= playlist.target_duration, f"{uri}: {seg.duration} > {playlist.target_duration}"
        starts.append(round(t, 3))
        t += seg.duration
        body = init + (path.parent / seg.uri).read_bytes()
        with av.open(io.BytesIO(body)) as c:
            stream = c.streams.video[0] if video else c.streams.audio[0]
            decoded = list(c.decode(stream))
        assert decoded, f"{uri}/{seg.uri} decodes to nothing"
        if video:
            assert decoded[0].key_frame, f"{uri}/{seg.uri} does not start on a keyframe"
        frames += len(decoded)
    return RenditionCheck(uri, frames, starts)


def check_iframe_playlist(root: Path, uri: str) -> None:
    path = root / uri
    playlist = m3u8.load(str(path))
    assert playlist.is_i_frames_only and playlist.segments
    init = (path.parent / playlist.segment_map[0].uri).read_bytes()
    for seg in playlist.segments:
        length, offset = (int(x) for x in seg.byterange.split("@"))
        body = (path.parent / seg.uri).read_bytes()[offset:offset + length]
        with av.open(io.BytesIO(init + body)) as c:
            frames = list(c.decode(video=0))
        assert len(frames) == 1 and frames[0].key_frame, f"{uri}: {seg.uri} range is not exactly one keyframe"


def check_package(root: Path, *, expect_audio: bool) -> tuple[m3u8.M3U8, list[RenditionCheck]]:
    master = m3u8.load(str(root / "master.m3u8"))
    assert master.is_variant and master.playlists
    checks = []
    for variant in master.playlists:
        info = variant.stream_info
        assert info.bandwidth > 0 and info.average_bandwidth and info.average_bandwidth <= info.bandwidth
        w, h = info.resolution
        assert w % 2 == 0 and h % 2 == 0
        assert info.codecs.split(".")[0] in ("avc1", "hvc1", "av01")
        assert ("mp4a.40.2" in info.codecs) == expect_audio
        check = check_media_playlist(root, variant.uri, video=True)
        with av.open(str(root / variant.uri.rsplit("/", 1)[0] / "init.mp4")) as c:
            assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (w, h)
        checks.append(check)
    # Segments of every rendition and codec start at the same times: ABR switches land on aligned keyframes.
    assert len({tuple(c.segment_starts) for c in checks}) == 1
    for iframe in master.iframe_playlists:  # each I-frame entry is a decodable keyframe
        check_iframe_playlist(root, iframe.uri)
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert bool(audio) == expect_audio
    for m in audio:
        check_media_playlist(root, m.uri, video=False)
    return master, checks
