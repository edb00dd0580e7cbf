"""In-app notifications: what a user is told without asking.

System kinds (no actor): a video of theirs became playable, was rejected, failed, was removed or restored by
moderation, an appeal was denied, a comment was removed; written by ``catalog.video_events`` and
``catalog.moderation``. Social kinds (an actor): someone followed them, liked or commented on their video, or
replied to their comment; written by ``notify_actor`` in the transaction of the action itself.

Rules of the social kinds: nobody is told about their own action; nothing passes between two users either of
whom blocked the other; a like tells its video's creator once per liker and video, and a follow its followee
once per follower, however often either is undone and redone (a unique ``dedup_key`` per user).

Every new notification NOTIFYs ``CHANNEL`` with its user's id at commit (dropped on rollback), and so does
marking read: open streams (``feed_api.notification_stream``, in any API process) wake and read what is new.
Read and marked read by their user only.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from catalog.models import Notification, User, utcnow
from catalog.social import is_blocked_either_way

CHANNEL = "notifications"
SNIPPET = 80  # characters of a comment kept in the notification (the full text is on the video)


class Kind(StrEnum):
    NEW_FOLLOWER = "new_follower"
    VIDEO_LIKED = "video_liked"
    VIDEO_COMMENTED = "video_commented"
    COMMENT_REPLIED = "comment_replied"


def _wake(session: Session, user_id: str) -> None:
    session.execute(select(func.pg_notify(CHANNEL, user_id)))  # delivered at commit, dropped on rollback


def notify(session: Session, user_id: str, kind: str, *, video_id: str | None = None,
           detail: dict | None = None) -> Notification:
    """Leave a system notification for ``user_id`` (part of the caller's transaction)."""
    n = Notification(user_id=user_id, kind=kind, video_id=video_id, detail=detail or {})
    session.add(n)
    session.flush()
    _wake(session, user_id)
    return n


def notify_actor(session: Session, user_id: str | None, kind: Kind, actor_id: str, *, video_id: str | None = None,
                 comment_id: int | None = None, detail: dict | None = None,
                 dedup_key: str | None = None) -> int | None:
    """Tell ``user_id`` that ``actor_id`` did something; the new notification's id, or None when the rules
    say nothing is sent (their own action, a block either way, or already told under ``dedup_key``)."""
    if user_id is None or user_id == actor_id or is_blocked_either_way(session, user_id, actor_id):
        return None
    stmt = insert(Notification).values(user_id=user_id, kind=Kind(kind).value, actor_id=actor_id, video_id=video_id,
                                       comment_id=comment_id, detail=detail or {}, dedup_key=dedup_key)
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["user_id", "dedup_key"],
                                           index_where=Notification.dedup_key.is_not(None))
    new_id = session.execute(stmt.returning(Notification.id)).scalar()
    if new_id is not None:
        _wake(session, user_id)
    return new_id


def forget_comment(session: Session, comment_id: int) -> int:
    """Delete the notifications about a comment (a moderator removed it: its snippet must go too); how many.
    Their users' streams are woken so their badges drop."""
    users = session.scalars(delete(Notification).where(Notification.comment_id == comment_id)
                            .returning(Notification.user_id)).all()
    for user_id in set(users):
        _wake(session, user_id)
    return len(users)


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[:SNIPPET - 1].rstrip() + "…"


def for_user(session: Session, user_id: str, *, before_id: int | None = None, after_id: int | None = None,
             limit: int = 50, unread_only: bool = False) -> Sequence[Notification]:
    """Newest first (``before_id`` pages back); or, with ``after_id``, the ones after it oldest first (what
    a stream sends next)."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if after_id is not None:
        return session.scalars(stmt.where(Notification.id > after_id).order_by(Notification.id).limit(limit)).all()
    return session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)).all()


def latest_id(session: Session, user_id: str) -> int:
    return session.scalar(select(func.max(Notification.id)).where(Notification.user_id == user_id)) or 0


def handles(session: Session, user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    return {uid: handle for uid, handle in session.execute(select(User.id, User.handle).where(User.id.in_(user_ids)))}


def unread_count(session: Session, user_id: str) -> int:
    """From the partial index over unread rows: cost grows with this user's unread ones only."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, user_id: str, *, up_to_id: int) -> int:
    """Mark the user's notifications up to ``up_to_id`` read; how many changed. Another user's ids are
    never touched (the user id is part of the condition)."""
    result = session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.id <= up_to_id, Notification.read_at.is_(None))
        .values(read_at=utcnow()))
    changed = result.rowcount or 0
    if changed:
        _wake(session, user_id)  # the user's other open apps update their badge
    return changed


def text_for(kind: str, actor_handle: str | None, detail: dict) -> str:
    """The short sentence an app shows for a notification."""
    who = f"@{actor_handle}" if actor_handle else "Someone"
    said = detail.get("text")
    sentences = {
        Kind.NEW_FOLLOWER: f"{who} started following you",
        Kind.VIDEO_LIKED: f"{who} liked your video",
        Kind.VIDEO_COMMENTED: f"{who} commented: {said}" if said else f"{who} commented on your video",
        Kind.COMMENT_REPLIED: f"{who} replied: {said}" if said else f"{who} replied to your comment",
        "video_playable": "Your video is ready to watch",
        "video_rejected": "Your video could not be published",
        "video_failed": "Processing your video failed",
        "video_removed": "Your video was removed by moderation",
        "video_restored": "Your video was restored",
        "appeal_denied": "Your appeal was denied",
        "comment_removed": "Your comment was removed by moderation",
    }
    return sentences.get(kind, kind.replace("_", " ").capitalize())
