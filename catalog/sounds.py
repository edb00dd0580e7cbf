"""Sounds: what ``videos.sound_id`` names. Original sounds come from an upload's own audio at ingest; library
sounds are the platform's (and every free-string id from before the table).

Who may see a sound: an original sound follows its video. Others may list it, open its page and play its clip
only while that video is watchable (playable or ready), not deleted, public, and its creator has not blocked
them (or been blocked by them); its creator always may, unless the video is deleted or removed by moderation.
A library sound is visible to everyone. The clip itself lives under the video's prefix at the origin, so the
edge's per-video rules refuse it on their own (404 once the video is gone, 403 unsigned while it is not
public), whatever a client kept of an old URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from catalog import feeds, social
from catalog.models import SERVABLE_STATES, Privacy, Sound, SoundKind, User, Video, VideoState, new_video_id

ORIGINAL_TITLE = "original sound"
SORTS = ("recent", "popular")


class SoundUnavailable(LookupError):
    """A sound a video may not use; ``code`` says why (sound_not_found, sound_not_reusable, sound_unavailable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def original_title(handle: str | None) -> str:
    return f"{ORIGINAL_TITLE} - @{handle}" if handle else ORIGINAL_TITLE


def ensure_library(session: Session, sound_id: str) -> None:
    """Register ``sound_id`` as a library sound if no sound has that id (titled with the id itself)."""
    session.execute(insert(Sound).values(id=sound_id, title=sound_id, kind=SoundKind.LIBRARY)
                    .on_conflict_do_nothing())


def get(session: Session, sound_id: str) -> Sound | None:
    return session.get(Sound, sound_id)


def _original_video(session: Session, sound: Sound) -> Video | None:
    return session.get(Video, sound.original_video_id) if sound.original_video_id else None


def visible_to(session: Session, sound: Sound, viewer: str | None) -> bool:
    """May ``viewer`` (None: anonymous) list this sound, open its page and play its clip."""
    if sound.kind != SoundKind.ORIGINAL:
        return True
    video = _original_video(session, sound)
    if video is None or video.deleted_at is not None or video.state == VideoState.REMOVED:
        return False  # an original sound without its video (or with a removed one) is nobody's to play
    if viewer is not None and viewer == video.creator_id:
        return True
    if video.state not in SERVABLE_STATES or video.privacy != Privacy.PUBLIC:
        return False
    return not (viewer and video.creator_id and social.is_blocked_either_way(session, viewer, video.creator_id))


def is_public(session: Session, sound: Sound) -> bool:
    """Visible to anyone (an unsigned clip URL will play): a library sound, or one of a public servable video."""
    return visible_to(session, sound, None)


def check_usable(session: Session, sound_id: str, user: str) -> Sound:
    """The sound an upload by ``user`` may name, or SoundUnavailable saying why not. To anyone but its creator, a
    sound whose video is deleted, removed or not public reads as missing, so the answer reveals nothing about
    that video; its creator is told which."""
    sound = get(session, sound_id)
    video = _original_video(session, sound) if sound is not None else None
    if sound is not None and video is not None and video.creator_id == user:
        if video.deleted_at is not None:
            raise SoundUnavailable("sound_unavailable", f"sound {sound_id!r} came from a video you deleted")
        if video.state == VideoState.REMOVED:
            raise SoundUnavailable("sound_unavailable", f"sound {sound_id!r} came from a video removed by "
                                                        "moderation")
    if sound is None or not visible_to(session, sound, user):
        raise SoundUnavailable("sound_not_found", f"there is no sound {sound_id!r} you can use (no such sound, or "
                                                  "its video is deleted, removed or not public)")
    if not sound.reusable:
        raise SoundUnavailable("sound_not_reusable", f"sound {sound_id!r} may not be used in other videos")
    return sound


def wants_original(session: Session, video_id: str) -> bool:
    """Should ingest make this video an original sound: it was uploaded without naming a sound, or the sound
    it names is already its own original (a re-run re-makes the clip under the new publication's prefix)."""
    sound_id = session.scalar(select(Video.sound_id).where(Video.id == video_id))
    if sound_id is None:
        return True
    return session.scalar(select(Sound.original_video_id).where(Sound.id == sound_id)) == video_id


def save_original(session: Session, video_id: str, *, audio_key: str, duration_s: float) -> Sound | None:
    """Make (or, on a re-run, re-point) the video's original sound and set the video's ``sound_id`` to it; part
    of the caller's transaction (ingest's switch to the new publication). None when the video uses another
    sound, which wins over its own audio."""
    if not wants_original(session, video_id):
        return None
    video = session.get(Video, video_id)
    if video is None:
        return None
    sound = session.scalar(select(Sound).where(Sound.original_video_id == video_id))
    if sound is None:
        handle = session.scalar(select(User.handle).where(User.id == video.creator_id)) if video.creator_id else None
        sound = Sound(id=new_video_id(), title=original_title(handle), kind=SoundKind.ORIGINAL,
                      creator_id=video.creator_id, original_video_id=video_id)
        session.add(sound)
    sound.audio_key, sound.duration_s = audio_key, duration_s
    session.flush()
    video.sound_id = sound.id
    return sound


def use_count(session: Session, sound_id: str) -> int:
    """Videos using the sound that anyone may find (discoverable ones), from the ``sound_id`` index."""
    return session.scalar(select(func.count()).select_from(Video).where(
        Video.sound_id == sound_id, *feeds.discovery_conditions(feeds.Viewer(None)))) or 0


@dataclass(frozen=True)
class SoundRow:
    sound: Sound
    creator_handle: str | None
    original_privacy: str | None  # None: no original video (library)


def page_row(session: Session, sound: Sound) -> SoundRow:
    handle = session.scalar(select(User.handle).where(User.id == sound.creator_id)) if sound.creator_id else None
    video = _original_video(session, sound)
    return SoundRow(sound, handle, video.privacy if video else None)


def videos(session: Session, viewer: feeds.Viewer, sound_id: str, *, sort: str = "recent",
           after: tuple | None = None, limit: int = 20) -> list[tuple[str, list]]:
    """Videos using the sound that ``viewer`` may find (the sound feed's rules), as (id, keyset key): newest
    first (by when they became watchable) or most viewed first (flushed view totals, ties by id). The popular
    order moves as views come in, so a page boundary can repeat or skip a video whose views changed meanwhile."""
    if sort == "recent":
        rows = feeds.with_sound(session, viewer, sound_id, after=after, limit=limit)
        return [(vid, [at.isoformat(), vid]) for vid, at in rows]
    if sort != "popular":
        raise ValueError(f"sort must be one of {SORTS}")
    stmt = select(Video.id, Video.view_count).where(*feeds.discovery_conditions(viewer), Video.sound_id == sound_id)
    if after is not None:
        views, vid = after
        stmt = stmt.where(tuple_(Video.view_count, Video.id) < tuple_(int(views), str(vid)))
    stmt = stmt.order_by(Video.view_count.desc(), Video.id.desc()).limit(limit)
    return [(vid, [views, vid]) for vid, views in session.execute(stmt)]


def parse_after(sort: str, key: list) -> tuple | None:
    """A cursor's keyset back into ``videos``' ``after``."""
    if not key:
        return None
    if sort == "recent":
        return datetime.fromisoformat(str(key[0])), str(key[1])
    return int(key[0]), str(key[1])
