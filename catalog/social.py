"""Repository functions for the social graph and reactions: follows, blocks, likes, comments, shares and
"not interested". Writes are idempotent where the API promises it (``True`` when something changed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from catalog.models import SERVABLE_STATES, Block, Comment, Follow, Like, NotInterested, Privacy, Share, Video


def _insert_ignore(session: Session, model: type, **values: object) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was inserted (RETURNING says so reliably)."""
    table = model.__table__
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return session.execute(stmt).first() is not None


def follow(session: Session, follower_id: str, followee_id: str) -> bool:
    return _insert_ignore(session, Follow, follower_id=follower_id, followee_id=followee_id)


def unfollow(session: Session, follower_id: str, followee_id: str) -> bool:
    stmt = delete(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
    return session.execute(stmt).rowcount > 0


def follows(session: Session, follower_id: str, followee_id: str) -> bool:
    return session.get(Follow, (follower_id, followee_id)) is not None


def followees(session: Session, user_id: str) -> list[str]:
    return list(session.scalars(select(Follow.followee_id).where(Follow.follower_id == user_id)))


def block(session: Session, blocker_id: str, blocked_id: str) -> bool:
    changed = _insert_ignore(session, Block, blocker_id=blocker_id, blocked_id=blocked_id)
    # A block also ends following in both directions.
    session.execute(delete(Follow).where(or_(and_(Follow.follower_id == blocker_id, Follow.followee_id == blocked_id),
                                             and_(Follow.follower_id == blocked_id, Follow.followee_id == blocker_id))))
    return changed


def unblock(session: Session, blocker_id: str, blocked_id: str) -> bool:
    stmt = delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
    return session.execute(stmt).rowcount > 0


def blocked_either_way(session: Session, user_id: str) -> set[str]:
    """Users whose videos ``user_id`` must never see: those they blocked and those who blocked them."""
    mine = select(Block.blocked_id).where(Block.blocker_id == user_id)
    theirs = select(Block.blocker_id).where(Block.blocked_id == user_id)
    return set(session.scalars(mine.union(theirs)))


def is_blocked_either_way(session: Session, a: str, b: str) -> bool:
    return bool(session.scalar(select(exists().where(or_(and_(Block.blocker_id == a, Block.blocked_id == b),
                                                         and_(Block.blocker_id == b, Block.blocked_id == a))))))


def can_view(session: Session, viewer_id: str | None, video: Video) -> bool:
    """Privacy and blocks for one video (feeds apply the same rules in SQL or over cached cards)."""
    if video.deleted_at is not None:
        return False
    if viewer_id is not None and viewer_id == video.creator_id:
        return True
    if video.state not in SERVABLE_STATES or video.privacy == Privacy.PRIVATE:
        return False
    if viewer_id is None:
        return video.privacy == Privacy.PUBLIC
    if video.creator_id and is_blocked_either_way(session, viewer_id, video.creator_id):
        return False
    return video.privacy == Privacy.PUBLIC or follows(session, viewer_id, video.creator_id or "")


def like(session: Session, user_id: str, video_id: str) -> bool:
    return _insert_ignore(session, Like, user_id=user_id, video_id=video_id)


def unlike(session: Session, user_id: str, video_id: str) -> bool:
    return session.execute(delete(Like).where(Like.user_id == user_id, Like.video_id == video_id)).rowcount > 0


def liked(session: Session, user_id: str, video_ids: list[str]) -> set[str]:
    if not video_ids:
        return set()
    return set(session.scalars(select(Like.video_id).where(Like.user_id == user_id, Like.video_id.in_(video_ids))))


class ParentNotFound(LookupError):
    pass


def add_comment(session: Session, *, video_id: str, user_id: str, body: str, parent_id: int | None = None) -> Comment:
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.video_id != video_id or parent.deleted_at is not None:
            raise ParentNotFound(f"comment {parent_id} is not a comment on video {video_id}")
    comment = Comment(video_id=video_id, user_id=user_id, body=body, parent_id=parent_id)
    session.add(comment)
    session.flush()
    return comment


@dataclass(frozen=True)
class CommentRow:
    id: int
    video_id: str
    user_id: str
    handle: str
    parent_id: int | None
    body: str
    created_at: datetime
    replies: int


def list_comments(session: Session, video_id: str, *, parent_id: int | None = None, after_id: int = 0,
                  limit: int = 20) -> list[CommentRow]:
    """Oldest first, keyset-paginated by id; top-level comments unless ``parent_id`` asks for replies. Comments
    a moderator removed are left out."""
    from catalog.models import User

    reply = Comment.__table__.alias("reply")
    replies = (select(func.count()).select_from(reply).where(reply.c.parent_id == Comment.id,
                                                             reply.c.deleted_at.is_(None))
               .correlate(Comment).scalar_subquery())
    stmt = (select(Comment.id, Comment.video_id, Comment.user_id, User.handle, Comment.parent_id, Comment.body,
                   Comment.created_at, replies.label("replies"))
            .join(User, User.id == Comment.user_id)
            .where(Comment.video_id == video_id, Comment.id > after_id, Comment.deleted_at.is_(None),
                   Comment.parent_id == parent_id if parent_id is not None else Comment.parent_id.is_(None))
            .order_by(Comment.id).limit(limit))
    return [CommentRow(*r) for r in session.execute(stmt)]


def add_share(session: Session, *, user_id: str, video_id: str, channel: str = "link") -> Share:
    share = Share(user_id=user_id, video_id=video_id, channel=channel)
    session.add(share)
    session.flush()
    return share


def not_interested(session: Session, user_id: str, kind: str, value: str) -> bool:
    return _insert_ignore(session, NotInterested, user_id=user_id, kind=kind, value=value)


def not_interested_in(session: Session, user_id: str) -> tuple[set[str], set[str]]:
    """(creators, tags) the user asked not to see."""
    rows = session.execute(select(NotInterested.kind, NotInterested.value).where(NotInterested.user_id == user_id))
    creators, tags = set(), set()
    for kind, value in rows:
        (creators if kind == "creator" else tags).add(value)
    return creators, tags
