"""What users send to moderation: reports on videos, comments and users, and a creator's appeal of a removal.

A report names only what its reporter may see (a video they cannot see answers 404, as everywhere else), is
filed once per reporter and target (again: 200 with ``duplicate``), and spends a budget of its own per account
(``Budget.REPORT``): a report flood is how one would hold videos for review.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy.orm import Session

from catalog import moderation as repo
from catalog import users as users_repo
from catalog.db import session_scope
from catalog.models import Appeal, Comment, Report
from feed_api.cards import drop_cards
from feed_api.deps import Reporter, Svc, User
from feed_api.errors import ApiError, invalid, not_found
from feed_api.schemas import USER_ID_PATTERN, AppealOut, NewAppeal, NewReport, ReportOut
from feed_api.services import Services
from feed_api.videos import VideoId, load_visible

router = APIRouter(tags=["moderation"])
UserId = Annotated[str, Path(pattern=USER_ID_PATTERN, description="user id")]
CommentId = Annotated[int, Path(ge=1, le=2**62, description="comment id")]
REPORT_ERRORS = {200: {"model": ReportOut, "description": "you had reported it already; nothing changed"},
                 422: {"description": "unknown reason, note too long, or your own video/yourself"}}
APPEAL_ERRORS = {404: {"description": "no such video of yours"},
                 409: {"description": "not removed, or this removal has been appealed already"}}


def report_out(row: Report, new: bool) -> ReportOut:
    return ReportOut(id=row.id, target_kind=row.target_kind, target_id=row.target_id, reason=row.reason,
                     status=row.status, created_at=row.created_at, duplicate=not new)


def appeal_out(a: Appeal) -> AppealOut:
    return AppealOut(id=a.id, video_id=a.video_id, creator_id=a.creator_id, statement=a.statement, status=a.status,
                     created_at=a.created_at, decided_at=a.decided_at, decision_reason=a.decision_reason)


def _file(s: Session, svc: Services, user: str, kind: repo.TargetKind, target_id: str, body: NewReport,
          response: Response) -> ReportOut:
    row, new = repo.report(s, reporter_id=user, kind=kind, target_id=target_id, reason=body.reason, note=body.note,
                           review_threshold=svc.review_reports if kind == repo.TargetKind.VIDEO else 0)
    if not new:
        response.status_code = 200
    return report_out(row, new)


@router.post("/v1/videos/{video_id}/report", status_code=201, response_model=ReportOut,
             responses={**REPORT_ERRORS, 404: {"description": "no such video, or not one you may see"}})
def report_video(video_id: VideoId, body: NewReport, user: Reporter, svc: Svc, response: Response) -> ReportOut:
    """Report a video you can see. Enough distinct reporters hold it for review (out of discovery feeds)."""
    with session_scope(svc.sessions) as s:
        video = load_visible(s, video_id, user)
        if video.creator_id == user:
            raise invalid("you cannot report your own video", "video_id")
        out = _file(s, svc, user, repo.TargetKind.VIDEO, video_id, body, response)
    if not out.duplicate:
        drop_cards(svc, [video_id])  # the card carries the report count (limited exposure) and moderation
    return out


@router.post("/v1/comments/{comment_id}/report", status_code=201, response_model=ReportOut,
             responses={**REPORT_ERRORS, 404: {"description": "no such comment, or on a video you may not see"}})
def report_comment(comment_id: CommentId, body: NewReport, user: Reporter, svc: Svc, response: Response) -> ReportOut:
    with session_scope(svc.sessions) as s:
        comment = s.get(Comment, comment_id)
        if comment is None or comment.deleted_at is not None:
            raise not_found("comment", str(comment_id))
        try:
            load_visible(s, comment.video_id, user)
        except ApiError as exc:  # say nothing about the video a comment is on
            raise not_found("comment", str(comment_id)) from exc
        return _file(s, svc, user, repo.TargetKind.COMMENT, str(comment_id), body, response)


@router.post("/v1/users/{user_id}/report", status_code=201, response_model=ReportOut,
             responses={**REPORT_ERRORS, 404: {"description": "no such user"}})
def report_user(user_id: UserId, body: NewReport, user: Reporter, svc: Svc, response: Response) -> ReportOut:
    with session_scope(svc.sessions) as s:
        if user_id == user:
            raise invalid("you cannot report yourself", "user_id")
        if users_repo.find_user(s, user_id) is None:
            raise not_found("user", user_id)
        return _file(s, svc, user, repo.TargetKind.USER, user_id, body, response)


@router.post("/v1/videos/{video_id}/appeal", status_code=201, response_model=AppealOut, responses=APPEAL_ERRORS)
def appeal(video_id: VideoId, body: NewAppeal, user: User, svc: Svc) -> AppealOut:
    """The creator appeals the removal of their video, once per removal; a moderator decides."""
    with session_scope(svc.sessions) as s:
        try:
            return appeal_out(repo.file_appeal(s, creator_id=user, video_id=video_id, statement=body.statement))
        except repo.TargetNotFound as exc:  # someone else's video answers the same: its existence is not told
            raise ApiError(404, "video_not_found", f"video {video_id!r} does not exist") from exc
        except repo.ModerationError as exc:
            raise ApiError(409, "invalid_state", str(exc)) from exc
