"""In-app notifications: what a user is told without asking (a video of theirs became playable, was rejected,
failed, was removed or restored by moderation, an appeal was denied). Written by ``catalog.video_events`` and
``catalog.moderation``; read and marked read by their user only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from catalog.models import Notification, utcnow


def notify(session: Session, user_id: str, kind: str, *, video_id: str | None = None,
           detail: dict | None = None) -> Notification:
    """Leave a notification for ``user_id`` (part of the caller's transaction)."""
    n = Notification(user_id=user_id, kind=kind, video_id=video_id, detail=detail or {})
    session.add(n)
    session.flush()
    return n


def for_user(session: Session, user_id: str, *, before_id: int | None = None, limit: int = 50,
             unread_only: bool = False) -> Sequence[Notification]:
    """Newest first; ``before_id`` pages back."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)).all()


def unread_count(session: Session, user_id: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, user_id: str, *, up_to_id: int) -> int:
    """Mark the user's notifications up to ``up_to_id`` read; how many changed. Another user's ids are
    never touched (the user id is part of the condition)."""
    result = session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.id <= up_to_id, Notification.read_at.is_(None))
        .values(read_at=utcnow()))
    return result.rowcount or 0
