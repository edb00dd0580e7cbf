"""Moderation: reports, the review queue, moderators' actions (each one a row of the append-only audit log)
and creators' appeals.

A takedown is the video state ``removed``: everything that serves only ``SERVABLE_STATES`` (feeds, likes,
``can_view``, cards, dedup references, the edge's catalog check) stops serving it, with no check of its own.
The removal's audit row keeps the state the video had, which an upheld appeal (or a moderator's restore) puts
back. Restricting, or holding for review, is the separate ``videos.moderation`` column that discovery feeds
read. Purging the CDN is the caller's part (``jobs.purge``, in the same transaction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from catalog import notifications, prohibited_media, video_events
from catalog.models import (
    Appeal,
    Comment,
    Moderation,
    ModerationAction,
    ProhibitedMedia,
    Report,
    User,
    Video,
    VideoState,
    utcnow,
)
from catalog.video_events import EventKind

REASONS = ("spam", "harassment", "hate", "violence", "nudity", "dangerous", "copyright", "other")
NOTE_MAX = 500


class TargetKind(StrEnum):
    VIDEO = "video"
    COMMENT = "comment"
    USER = "user"


class Action(StrEnum):
    APPROVE = "approve"  # the reports are unfounded: clear (a held or restricted video goes back to every feed)
    RESTRICT = "restrict"  # out of discovery feeds; still plays by link, on the profile, in Following
    REMOVE = "remove"  # a video taken down (or a comment hidden)
    RESTORE = "restore"  # a moderator reverses a removal
    PROHIBIT = "prohibit"  # with a removal: the video's fingerprint joins the prohibited-media list
    UNPROHIBIT = "unprohibit"  # a reversed removal takes its prohibited-media entries back
    HOLD = "hold"  # a check (the ingest classifier) held the video for review; logged with the check's name
    APPEAL_UPHELD = "appeal_upheld"
    APPEAL_DENIED = "appeal_denied"


# What a moderator may do to each kind of target. A user's account-level action is only "approve" (dismiss the
# reports) for now: their videos and comments are acted on one by one.
ALLOWED = {TargetKind.VIDEO: (Action.APPROVE, Action.RESTRICT, Action.REMOVE, Action.RESTORE),
           TargetKind.COMMENT: (Action.APPROVE, Action.REMOVE),
           TargetKind.USER: (Action.APPROVE,)}


class ModerationError(ValueError):
    """The action does not apply to the target as it stands (the API answers 409)."""


class TargetNotFound(LookupError):
    pass


class AlreadyAppealed(ModerationError):
    pass


class OwnContent(PermissionError):
    """A moderator may not decide on their own video, comment, account or appeal (the API answers 403)."""


def _not_own(moderator_id: str, owner_id: str | None, what: str) -> None:
    if owner_id is not None and owner_id == moderator_id:
        raise OwnContent(f"you cannot moderate your own {what}")


# --------------------------------------------------------------------------------------------- reports
def report(session: Session, *, reporter_id: str, kind: TargetKind, target_id: str, reason: str, note: str = "",
           review_threshold: int = 0) -> tuple[Report, bool]:
    """File a report (the caller has checked the reporter may see the target); (the report, whether it is new).

    Reporting the same target again returns the first report unchanged. A video reported by
    ``review_threshold`` distinct users (0: never) is held for review: out of discovery feeds until a
    moderator approves it.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    stmt = (insert(Report).values(reporter_id=reporter_id, target_kind=kind.value, target_id=target_id,
                                  reason=reason, note=note[:NOTE_MAX])
            .on_conflict_do_nothing(constraint="reports_once").returning(Report.id))
    new_id = session.execute(stmt).scalar()
    row = session.scalars(select(Report).where(Report.reporter_id == reporter_id, Report.target_kind == kind.value,
                                               Report.target_id == target_id)).one()
    if new_id is not None and kind == TargetKind.VIDEO:
        count = session.execute(update(Video).where(Video.id == target_id)
                                .values(report_count=Video.report_count + 1).returning(Video.report_count)).scalar()
        if review_threshold and count is not None and count >= review_threshold:
            session.execute(update(Video).where(Video.id == target_id, Video.moderation == Moderation.CLEAR)
                            .values(moderation=Moderation.REVIEW))
    return row, new_id is not None


def hold_for_review(session: Session, video_id: str, *, check: str, reason: str, note: str) -> bool:
    """A check's verdict (the ingest classifier's): file an automated report, so the video reaches the review
    queue, and hold a video that is clear with moderation out of discovery feeds until a moderator decides.
    Logged under the check's name. Idempotent: one open automated report per video. False when the video is
    gone (deleted or removed) or already has one."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    video = session.scalars(select(Video).where(Video.id == video_id).with_for_update()).one_or_none()
    if video is None or video.deleted_at is not None or video.state == VideoState.REMOVED:
        return False
    if session.scalar(select(exists().where(Report.target_kind == TargetKind.VIDEO.value, Report.target_id == video_id,
                                            Report.reporter_id.is_(None), Report.status == "open"))):
        return False
    session.add(Report(reporter_id=None, target_kind=TargetKind.VIDEO.value, target_id=video_id, reason=reason,
                       note=f"{check}: {note}"[:NOTE_MAX]))
    previous = video.moderation
    if video.moderation == Moderation.CLEAR:
        video.moderation, video.moderation_reason = Moderation.REVIEW, f"{check}: {note}"[:NOTE_MAX]
    _log(session, moderator_id=check, kind=TargetKind.VIDEO, target_id=video_id, action=Action.HOLD,
         reason=note[:NOTE_MAX], previous_state=video.state, previous_moderation=previous)
    return True


def _resolve_reports(session: Session, kind: TargetKind, target_id: str, moderator_id: str) -> int:
    return session.execute(update(Report).where(Report.target_kind == kind.value, Report.target_id == target_id,
                                                Report.status == "open")
                           .values(status="resolved", resolved_at=utcnow(), resolved_by=moderator_id)).rowcount or 0


@dataclass(frozen=True)
class QueueItem:
    target_kind: str
    target_id: str
    reports: int
    reasons: dict[str, int]
    first_reported_at: datetime
    last_reported_at: datetime


def _deleted_video_target() -> ColumnElement[bool]:
    # A video its creator deleted leaves the queue (nothing is left to act on); its reports stay in the table.
    return and_(Report.target_kind == TargetKind.VIDEO.value,
                exists().where(Video.id == Report.target_id, Video.deleted_at.is_not(None)))


def queue(session: Session, *, after: tuple[datetime, str, str] | None = None, limit: int = 20) -> list[QueueItem]:
    """Open reports grouped by target, the longest-waiting target first; keyset ``after`` =
    (first_reported_at, target_kind, target_id) of the last item served."""
    first = func.min(Report.created_at)
    stmt = (select(Report.target_kind, Report.target_id, func.count().label("n"),
                   func.array_agg(Report.reason).label("reasons"), first.label("first"),
                   func.max(Report.created_at).label("last"))
            .where(Report.status == "open", ~_deleted_video_target())
            .group_by(Report.target_kind, Report.target_id))
    if after is not None:
        stmt = stmt.having(tuple_(first, Report.target_kind, Report.target_id) > tuple_(*after))
    stmt = stmt.order_by(first, Report.target_kind, Report.target_id).limit(limit)
    return [QueueItem(r.target_kind, r.target_id, r.n, dict(Counter(r.reasons).most_common()), r.first, r.last)
            for r in session.execute(stmt)]


# --------------------------------------------------------------------------------------------- actions
def _log(session: Session, *, moderator_id: str, kind: TargetKind, target_id: str, action: Action, reason: str,
         previous_state: str | None = None, previous_moderation: str | None = None) -> ModerationAction:
    row = ModerationAction(moderator_id=moderator_id, target_kind=kind.value, target_id=target_id,
                           action=action.value, reason=reason, previous_state=previous_state,
                           previous_moderation=previous_moderation)
    session.add(row)
    session.flush()
    return row


def latest_removal(session: Session, video_id: str) -> ModerationAction | None:
    return session.scalars(select(ModerationAction).where(
        ModerationAction.target_kind == TargetKind.VIDEO.value, ModerationAction.target_id == video_id,
        ModerationAction.action == Action.REMOVE.value).order_by(ModerationAction.id.desc()).limit(1)).first()


def _video(session: Session, video_id: str) -> Video:
    video = session.scalars(select(Video).where(Video.id == video_id).with_for_update()).one_or_none()
    if video is None or video.deleted_at is not None:
        raise TargetNotFound(f"video {video_id!r} does not exist")
    return video


def _judged_fine(video: Video) -> None:
    """A moderator found the video fine: a review hold ends (a restriction stays) and its reports stop counting
    against it, so old reports cannot keep it in limited exposure (recommend.exposure) for good."""
    if video.moderation == Moderation.REVIEW:
        video.moderation = Moderation.CLEAR
    video.report_count = 0


def _restore(session: Session, video: Video, *, moderator_id: str, action: Action, reason: str) -> ModerationAction:
    removal = latest_removal(session, video.id)
    if removal is None or not removal.previous_state:
        raise ModerationError(f"video {video.id} has no removal to reverse")
    previous, previous_moderation = video.state, video.moderation
    video.state = removal.previous_state  # exactly what it was; not a pipeline transition (see catalog.videos)
    video.moderation_reason = None
    _judged_fine(video)
    row = _log(session, moderator_id=moderator_id, kind=TargetKind.VIDEO, target_id=video.id, action=action,
               reason=reason, previous_state=previous, previous_moderation=previous_moderation)
    video_events.record(session, video.id, EventKind.RESTORED, {"reason": reason, "state": video.state})
    # A re-upload of what was judged fine must not be refused as prohibited because of this removal.
    entries = session.scalars(delete(ProhibitedMedia).where(ProhibitedMedia.source_video_id == video.id)
                              .returning(ProhibitedMedia.id)).all()
    if entries:
        _log(session, moderator_id=moderator_id, kind=TargetKind.VIDEO, target_id=video.id, action=Action.UNPROHIBIT,
             reason=f"prohibited-media entries {', '.join(map(str, entries))} dropped with the removal")
    return row


def act_on_video(session: Session, *, moderator_id: str, video_id: str, action: Action, reason: str,
                 prohibit: bool = False) -> ModerationAction:
    """Apply ``action``, resolve the video's open reports and log it. For ``remove`` the caller enqueues the
    CDN purge in the same transaction; ``prohibit`` also adds the video's fingerprint to the prohibited-media
    list, so ingest refuses re-uploads of it (a reversed removal takes the entry back)."""
    if prohibit and action != Action.REMOVE:
        raise ModerationError("only a removal can prohibit the video's media")
    video = _video(session, video_id)
    _not_own(moderator_id, video.creator_id, "video")
    removed = video.state == VideoState.REMOVED
    if removed != (action == Action.RESTORE):
        raise ModerationError(f"video {video_id} is removed; only restore (or an appeal) applies" if removed
                              else f"video {video_id} is not removed; there is nothing to restore")
    previous_state, previous_moderation = video.state, video.moderation
    if action == Action.RESTORE:
        row = _restore(session, video, moderator_id=moderator_id, action=action, reason=reason)
    else:
        if action == Action.APPROVE:
            video.moderation, video.moderation_reason = Moderation.CLEAR, None
            _judged_fine(video)
        elif action == Action.RESTRICT:
            video.moderation, video.moderation_reason = Moderation.RESTRICTED, reason
        elif action == Action.REMOVE:
            video.state, video.moderation_reason = VideoState.REMOVED, reason
            video_events.record(session, video_id, EventKind.REMOVED, {"reason": reason})  # notifies the creator
        else:
            raise ModerationError(f"{action} does not apply to a video")
        row = _log(session, moderator_id=moderator_id, kind=TargetKind.VIDEO, target_id=video_id, action=action,
                   reason=reason, previous_state=previous_state, previous_moderation=previous_moderation)
        if prohibit:  # logged after the removal it belongs to
            try:
                entry = prohibited_media.add_video(session, video_id, reason=reason,
                                                   added_by=f"moderator:{moderator_id}")
            except LookupError as exc:  # never validated: nothing to match re-uploads against (all rolls back)
                raise ModerationError(str(exc)) from exc
            _log(session, moderator_id=moderator_id, kind=TargetKind.VIDEO, target_id=video_id,
                 action=Action.PROHIBIT, reason=f"prohibited-media entry {entry}: {reason}")
    _resolve_reports(session, TargetKind.VIDEO, video_id, moderator_id)
    return row


def act_on_comment(session: Session, *, moderator_id: str, comment_id: int, action: Action,
                   reason: str) -> ModerationAction:
    """Approve (dismiss the reports) or remove (hide: a soft delete, so the audit log keeps meaning)."""
    comment = session.get(Comment, comment_id, with_for_update=True)
    if comment is None:
        raise TargetNotFound(f"comment {comment_id} does not exist")
    _not_own(moderator_id, comment.user_id, "comment")
    if action not in ALLOWED[TargetKind.COMMENT]:
        raise ModerationError(f"{action} does not apply to a comment")
    if action == Action.REMOVE:
        if comment.deleted_at is not None:
            raise ModerationError(f"comment {comment_id} is already removed")
        comment.deleted_at = utcnow()
        # Whoever was told of it (the video's creator, the parent's author) must not keep reading it there.
        notifications.forget_comment(session, comment_id)
        notifications.notify(session, comment.user_id, "comment_removed", video_id=comment.video_id,
                             detail={"comment_id": comment_id, "reason": reason})
    _resolve_reports(session, TargetKind.COMMENT, str(comment_id), moderator_id)
    return _log(session, moderator_id=moderator_id, kind=TargetKind.COMMENT, target_id=str(comment_id),
                action=action, reason=reason)


def act_on_user(session: Session, *, moderator_id: str, user_id: str, action: Action, reason: str) -> ModerationAction:
    if session.get(User, user_id) is None:
        raise TargetNotFound(f"user {user_id!r} does not exist")
    _not_own(moderator_id, user_id, "account")
    if action not in ALLOWED[TargetKind.USER]:
        raise ModerationError(f"{action} does not apply to a user (act on their videos and comments)")
    _resolve_reports(session, TargetKind.USER, user_id, moderator_id)
    return _log(session, moderator_id=moderator_id, kind=TargetKind.USER, target_id=user_id, action=action,
                reason=reason)


def audit(session: Session, *, before_id: int | None = None, limit: int = 50, target_kind: str | None = None,
          target_id: str | None = None) -> Sequence[ModerationAction]:
    """The audit log, newest first; ``before_id`` pages back."""
    stmt = select(ModerationAction)
    if before_id is not None:
        stmt = stmt.where(ModerationAction.id < before_id)
    if target_kind is not None:
        stmt = stmt.where(ModerationAction.target_kind == target_kind)
    if target_id is not None:
        stmt = stmt.where(ModerationAction.target_id == target_id)
    return session.scalars(stmt.order_by(ModerationAction.id.desc()).limit(limit)).all()


# --------------------------------------------------------------------------------------------- appeals
def file_appeal(session: Session, *, creator_id: str, video_id: str, statement: str) -> Appeal:
    """The creator appeals the video's latest removal (once per removal)."""
    video = _video(session, video_id)
    if video.creator_id != creator_id:
        raise TargetNotFound(f"video {video_id!r} does not exist")
    removal = latest_removal(session, video_id) if video.state == VideoState.REMOVED else None
    if removal is None:
        raise ModerationError(f"video {video_id} is not removed; there is nothing to appeal")
    stmt = (insert(Appeal).values(video_id=video_id, creator_id=creator_id, removal_id=removal.id,
                                  statement=statement)
            .on_conflict_do_nothing(constraint="appeals_once_per_removal").returning(Appeal.id))
    appeal_id = session.execute(stmt).scalar()
    if appeal_id is None:
        raise AlreadyAppealed(f"the removal of video {video_id} has been appealed already")
    return session.get_one(Appeal, appeal_id)


def open_appeals(session: Session, *, after_id: int = 0, limit: int = 20) -> Sequence[Appeal]:
    return session.scalars(select(Appeal).where(Appeal.status == "open", Appeal.id > after_id)
                           .order_by(Appeal.id).limit(limit)).all()


def decide_appeal(session: Session, *, moderator_id: str, appeal_id: int, uphold: bool,
                  reason: str) -> tuple[Appeal, ModerationAction]:
    """Uphold (restore the video exactly as it was, notify) or deny (notify); an appeal is decided once."""
    appeal = session.get(Appeal, appeal_id, with_for_update=True)
    if appeal is None:
        raise TargetNotFound(f"appeal {appeal_id} does not exist")
    _not_own(moderator_id, appeal.creator_id, "appeal")
    if appeal.status != "open":
        raise ModerationError(f"appeal {appeal_id} has been decided already ({appeal.status})")
    video = _video(session, appeal.video_id)
    if uphold:
        if video.state != VideoState.REMOVED:  # restored by a moderator meanwhile: log the decision only
            action = _log(session, moderator_id=moderator_id, kind=TargetKind.VIDEO, target_id=video.id,
                          action=Action.APPEAL_UPHELD, reason=reason)
        else:
            action = _restore(session, video, moderator_id=moderator_id, action=Action.APPEAL_UPHELD, reason=reason)
    else:
        action = _log(session, moderator_id=moderator_id, kind=TargetKind.VIDEO, target_id=video.id,
                      action=Action.APPEAL_DENIED, reason=reason, previous_state=video.state)
        notifications.notify(session, appeal.creator_id, "appeal_denied", video_id=video.id,
                             detail={"appeal_id": appeal.id, "reason": reason})
    appeal.status = "upheld" if uphold else "denied"
    appeal.decided_by, appeal.decided_at, appeal.decision_reason = moderator_id, utcnow(), reason
    return appeal, action


def role(session: Session, user_id: str) -> str | None:
    return session.scalar(select(User.role).where(User.id == user_id))


def set_role(session: Session, handle: str, new_role: str) -> User | None:
    user = session.scalars(select(User).where(User.handle == handle.lower()).with_for_update()).one_or_none()
    if user is not None:
        user.role = new_role
    return user
