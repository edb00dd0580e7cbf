"""Repository functions for users: sign-up and look-ups."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog.models import User, new_user_id


class UserNotFound(LookupError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id!r} does not exist")
        self.user_id = user_id


class HandleTaken(ValueError):
    def __init__(self, handle: str) -> None:
        super().__init__(f"the handle {handle!r} is taken")
        self.handle = handle


def create_user(session: Session, *, handle: str, display_name: str = "", region: str = "global",
                interests: Iterable[str] = ()) -> User:
    user = User(id=new_user_id(), handle=handle.lower(), display_name=display_name or handle, region=region,
                interests=[t.lower() for t in interests])
    try:
        with session.begin_nested():  # a savepoint, so a taken handle leaves the caller's transaction usable
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise HandleTaken(handle) from exc
    return user


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


def find_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def by_handle(session: Session, handle: str) -> User | None:
    return session.scalars(select(User).where(User.handle == handle.lower())).one_or_none()
