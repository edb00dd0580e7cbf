"""Staging: how one ingest step's files reach the next step when the steps run on different machines.

Every step works in the run's local work dir (``<work_dir>/<video>/<publication>``). With LocalExecutor
(or Celery workers on one host sharing that directory) nothing more is needed: ``local`` staging only
checks that what a step needs is there, and names what is not. With Celery workers on several hosts
(a CPU queue and a GPU queue) a step's outputs exist only on the worker that made them, so ``s3`` staging
also uploads each step's outputs under ``staging/<video>/<publication>/`` and lets the next step fetch
what its own machine lacks.

Two halves: pure functions that say which files a step makes and needs (from the renditions and
thumbnails the steps hand each other), and :class:`Staging`, which moves a subset of the work dir to and
from S3. Both are plain values over an :class:`OriginStore`; only ``jobs.ingest`` reads the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from adapters.s3 import OriginStore
from media.iframes import IFRAMES_NAME
from media.package import MASTER_NAME

log = logging.getLogger("jobs.staging")

STAGING_ROOT = "staging"  # key prefix; the staging bucket may be shared (by default it is the raw bucket)
PACKAGE_DIR = "hls"  # the package's directory inside the work dir: what publish uploads
SAMPLES_FILE = "samples.npz"
THUMBS_DIR = f"{PACKAGE_DIR}/thumbs"


class StagingError(FileNotFoundError):
    """A step's inputs are neither in the local work dir nor in staging: an earlier step must run first.

    A FileNotFoundError, so callers that already treat a missing package that way keep working, but its
    message names the step, the missing files and where they were looked for.
    """


@dataclass(frozen=True)
class Need:
    """A step input: ``part`` (a file or directory under the work dir, fetched whole) and the ``files``
    that must exist afterwards for the step to work (for a rendition: its playlist and every segment)."""

    part: str
    files: tuple[str, ...] = ()


# -- which files a step makes and needs (pure) ------------------------------------------------------

class Rendition(Protocol):
    """A rendition as the steps pass it (an encoded rendition, or a package's summary of one)."""

    @property
    def kind(self) -> str: ...  # "video" | "audio"

    @property
    def playlist(self) -> str: ...  # relative to the package directory


class ThumbnailFiles(Protocol):
    @property
    def poster(self) -> str: ...

    @property
    def sprite_vtt(self) -> str: ...


def _check_relative(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"staging paths are relative to the work dir, without '..': got {path!r}")
    return p.as_posix()


def rendition_dir(playlist: str) -> str:
    """The directory a rendition lives in: ``h264/360p/index.m3u8`` -> ``hls/h264/360p``.

    Each transcode task owns its renditions' directories, not its codec's: a codec's ladder may be encoded
    in parts on different machines (the playable rungs first), and one part's push must not remove the
    other's staged files."""
    path = PurePosixPath(_check_relative(playlist))
    if len(path.parts) < 2:
        raise ValueError(f"a rendition playlist lives in its own directory, got {playlist!r}")
    return f"{PACKAGE_DIR}/{path.parent.as_posix()}"


def transcode_outputs(renditions: Sequence[Rendition]) -> list[str]:
    """What one transcode step (a codec, or audio) made: its top-level package directories."""
    return sorted({rendition_dir(r.playlist) for r in renditions})


def _outermost(parts: Iterable[str]) -> list[str]:
    """The parts not inside another one ("hls/h264" covers "hls/h264/240p/iframes.m3u8"), each once."""
    unique = sorted({_check_relative(p) for p in parts})
    return [p for p in unique if not any(p.startswith(q.rstrip("/") + "/") for q in unique)]


def package_inputs(parts: Sequence[Sequence[Rendition]]) -> list[Need]:
    """The renditions ``package`` measures: every transcode step's directory, and each playlist in it."""
    needs: dict[str, list[str]] = {}
    for r in (r for part in parts for r in part):
        needs.setdefault(rendition_dir(r.playlist), []).append(f"{PACKAGE_DIR}/{r.playlist}")
    return [Need(part, tuple(files)) for part, files in sorted(needs.items())]


def package_outputs(renditions: Sequence[Rendition], master: str = MASTER_NAME) -> list[str]:
    """What ``package`` writes beside the renditions: the master and one I-frame playlist per video rung."""
    iframes = [f"{PACKAGE_DIR}/{PurePosixPath(r.playlist).parent.as_posix()}/{IFRAMES_NAME}"
               for r in renditions if r.kind == "video"]
    return [f"{PACKAGE_DIR}/{master}", *iframes]


def publish_inputs(renditions: Sequence[Rendition], thumbs: ThumbnailFiles | None,
                   master: str = MASTER_NAME) -> list[Need]:
    """Everything ``publish`` uploads: the renditions, the package's playlists, and the thumbnails."""
    needs = package_inputs([renditions])
    needs += [Need(path, (path,)) for path in package_outputs(renditions, master)]
    if thumbs:
        needs.append(Need(THUMBS_DIR, (f"{PACKAGE_DIR}/{thumbs.poster}", f"{PACKAGE_DIR}/{thumbs.sprite_vtt}")))
    return needs


def playlist_references(text: str) -> list[str]:
    """The files an HLS media playlist points to (init section and segments), relative to it."""
    refs: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MAP:") and 'URI="' in line:
            refs.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            refs.append(line)
    return list(dict.fromkeys(refs))


def missing_files(root: Path, needs: Iterable[Need]) -> list[str]:
    """The needed files absent under ``root``; for a media playlist, also the files it references."""
    missing: list[str] = []
    for need in needs:
        for rel in need.files:
            path = root / rel
            if not path.is_file():
                missing.append(rel)
            elif path.suffix == ".m3u8" and path.name != MASTER_NAME:
                base = PurePosixPath(rel).parent
                missing += [(base / ref).as_posix() for ref in playlist_references(path.read_text())
                            if not (path.parent / ref).is_file()]
    return missing


# -- moving a subset of the work dir ---------------------------------------------------------------

def staging_prefix(video_id: str, publication: str) -> str:
    return f"{STAGING_ROOT}/{video_id}/{publication}/"


@dataclass(frozen=True)
class Staging:
    """One run's work dir (``root``) and, with a ``store``, its copy at ``bucket``/``prefix`` in S3.

    Without a store (``local`` staging) push and drop do nothing and pull only checks: the work dir
    is shared (one host), so a missing input is an error to name, not something to fetch.
    """

    root: Path
    store: OriginStore | None = None
    bucket: str = ""
    prefix: str = ""
    workers: int = 8

    def __post_init__(self) -> None:
        if self.store is not None and (not self.bucket or not self.prefix.endswith("/")):
            raise ValueError("S3 staging needs a bucket and a prefix ending in '/'")

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.store is not None else "(local staging: no copy)"

    def _key(self, rel: str) -> str:
        return self.prefix + rel

    def _local_files(self, part: str) -> list[Path]:
        path = self.root / part
        if path.is_file():
            return [path]
        return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []

    def _staged(self, part: str) -> dict[str, int]:
        """{relative path: size} of the staged objects of one part (a file or a directory)."""
        assert self.store is not None
        found: dict[str, int] = {}
        for obj in self.store.client.list_objects(self.bucket, prefix=self._key(part), recursive=True):
            rel = obj.object_name[len(self.prefix):]
            if rel == part or rel.startswith(part.rstrip("/") + "/"):  # not "hls/h2640" for "hls/h264"
                found[rel] = obj.size
        return found

    def push(self, parts: Iterable[str]) -> int:
        """Upload each part (a file or directory under the work dir) as it is now; objects written.

        Idempotent: a retried step uploads the same paths again. Staged files of a directory part that
        the new attempt no longer made are removed, so a consumer never mixes two attempts' outputs."""
        if self.store is None:
            return 0
        store = self.store
        uploads: list[tuple[str, Path]] = []
        for part in map(_check_relative, parts):
            files = self._local_files(part)
            if not files:
                raise StagingError(f"cannot stage {part}: nothing at {self.root / part}")
            local = {p.relative_to(self.root).as_posix() for p in files}
            uploads += [(p.relative_to(self.root).as_posix(), p) for p in files]
            for stale in sorted(set(self._staged(part)) - local):
                store.client.remove_object(self.bucket, self._key(stale))

        def put(item: tuple[str, Path]) -> None:
            store.put_file(self.bucket, self._key(item[0]), item[1], content_type="application/octet-stream")

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(put, uploads))
        log.info("staged %d files to %s", len(uploads), self.location)
        return len(uploads)

    def pull(self, needs: Iterable[Need], *, step: str) -> int:
        """Make every need present locally: fetch the staged files this machine lacks, or whose size
        differs (a partial file left by an attempt that died here). Files fetched.

        Raises :class:`StagingError` naming what is still missing afterwards."""
        needs = list(needs)
        fetched = 0
        if self.store is not None:
            store = self.store
            # Needs overlap (a rung's directory and its I-frame playlist): list each outermost part once, so
            # no file is fetched twice; two downloads of one file at once race on minio's ".part" name.
            wanted = [rel for part in _outermost(need.part for need in needs)
                      for rel, size in self._staged(part).items()
                      if not (self.root / rel).is_file() or (self.root / rel).stat().st_size != size]

            def get(rel: str) -> None:
                target = self.root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                store.download(self.bucket, self._key(rel), target)

            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                list(pool.map(get, wanted))
            fetched = len(wanted)
            if fetched:
                log.info("%s fetched %d staged files from %s", step, fetched, self.location)
        missing = missing_files(self.root, needs)
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise StagingError(f"{step} cannot find {len(missing)} input file(s) in {self.root} or "
                               f"{self.location}: {shown}; the steps that make them must run first "
                               f"(with workers on several machines, set REELFLOW_STAGING=s3)")
        return fetched

    def pull_optional(self, part: str) -> bool:
        """Fetch one staged part if this machine lacks it; whether it is present locally afterwards."""
        part = _check_relative(part)
        if not self._local_files(part) and self.store is not None:
            self.pull([Need(part)], step="staging")
        return bool(self._local_files(part))

    def drop(self) -> int:
        """Delete the run's staged copy; objects removed."""
        return self.store.delete_prefix(self.bucket, self.prefix) if self.store is not None else 0


def sweep_scratch(scratch: Path, max_age_s: float, *, now: float | None = None) -> list[Path]:
    """Remove run dirs (``<scratch>/<video>/<publication>``) on this machine where nothing changed for
    ``max_age_s``; the dirs removed.

    With S3 staging, ``cleanup`` runs on one worker, so the other machines that ran a step of the run
    keep their copies; each machine sweeps its own. Safe for a run still going: everything in its dir
    can be fetched again from staging or the raw bucket, and a step writing files keeps it fresh.
    """
    import shutil
    import time

    now = time.time() if now is None else now
    removed: list[Path] = []
    if not scratch.is_dir():
        return removed
    for run_dir in (d for video in scratch.iterdir() if video.is_dir() for d in video.iterdir() if d.is_dir()):
        try:
            newest = max([run_dir.stat().st_mtime, *(p.stat().st_mtime for p in run_dir.rglob("*"))])
        except FileNotFoundError:  # a concurrent cleanup removed it meanwhile
            continue
        if now - newest > max_age_s:
            shutil.rmtree(run_dir, ignore_errors=True)
            removed.append(run_dir)
            if not any(run_dir.parent.iterdir()):
                run_dir.parent.rmdir()
    return removed
