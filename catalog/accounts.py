"""Accounts in the catalog: passwords on users, refresh tokens (rotation and reuse detection), session
versions (signing out everywhere), profiles and avatars.

A refresh token is 256 random bits shown to the client once; the catalog keeps only its SHA-256 (a
high-entropy secret needs no salt or slow hash: nobody can guess one to test against the digest). Each
token is used once: :func:`rotate` marks it used and issues its successor in the same family. A used token
presented again is a copy in someone else's hands (or a replay), and nobody can tell which party is the
legitimate one, so the whole family is revoked: the thief's next refresh fails, and so does the user's,
who signs in again.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from catalog.models import RefreshToken, User, utcnow

TOKEN_BYTES = 32  # 256 bits


def new_refresh_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def new_family_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class IssuedRefresh:
    token: str  # the only time the text exists outside the client
    family_id: str
    expires_at: datetime


def issue_refresh(session: Session, user_id: str, *, ttl_s: int, family_id: str | None = None,
                  user_agent: str | None = None, now: datetime | None = None) -> tuple[IssuedRefresh, RefreshToken]:
    now = now or utcnow()
    token = new_refresh_token()
    row = RefreshToken(token_hash=token_digest(token), family_id=family_id or new_family_id(), user_id=user_id,
                       issued_at=now, expires_at=now + timedelta(seconds=ttl_s),
                       user_agent=(user_agent or None) and user_agent[:256])
    session.add(row)
    session.flush()
    return IssuedRefresh(token, row.family_id, row.expires_at), row


class Outcome(enum.StrEnum):
    OK = "ok"
    REUSED = "reused"  # a used token again: its family is revoked now (commit it, then answer 401)
    INVALID = "invalid"  # unknown, expired or revoked


@dataclass(frozen=True)
class Rotation:
    outcome: Outcome
    user: User | None = None
    issued: IssuedRefresh | None = None


def rotate(session: Session, token: str, *, ttl_s: int, user_agent: str | None = None,
           now: datetime | None = None) -> Rotation:
    """Spend ``token`` for its successor. The row is locked, so two concurrent refreshes with one token cannot
    both succeed: the second sees it used, which is reuse."""
    now = now or utcnow()
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == token_digest(token))
                          .with_for_update()).one_or_none()
    if row is None or row.revoked_at is not None:
        return Rotation(Outcome.INVALID)
    if row.used_at is not None:
        revoke_family(session, row.family_id, now=now)
        return Rotation(Outcome.REUSED)
    if row.expires_at <= now:
        return Rotation(Outcome.INVALID)
    user = session.get(User, row.user_id)
    if user is None:
        return Rotation(Outcome.INVALID)
    issued, successor = issue_refresh(session, row.user_id, ttl_s=ttl_s, family_id=row.family_id,
                                      user_agent=user_agent, now=now)
    row.used_at, row.replaced_by = now, successor.id
    return Rotation(Outcome.OK, user, issued)


def revoke_family(session: Session, family_id: str, *, now: datetime | None = None) -> int:
    result = session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                        RefreshToken.revoked_at.is_(None))
                             .values(revoked_at=now or utcnow()))
    return result.rowcount or 0


def revoke_token_family(session: Session, token: str) -> bool:
    """Sign out one device: revoke the family of ``token``; False when no such token exists."""
    family = session.scalar(select(RefreshToken.family_id).where(RefreshToken.token_hash == token_digest(token)))
    if family is None:
        return False
    revoke_family(session, family)
    return True


def revoke_all(session: Session, user_id: str, *, now: datetime | None = None) -> int:
    result = session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id,
                                                        RefreshToken.revoked_at.is_(None))
                             .values(revoked_at=now or utcnow()))
    return result.rowcount or 0


def bump_session_version(session: Session, user_id: str) -> int:
    """Every access token issued before now stops working (their ``sv`` is lower); the new version."""
    return session.execute(update(User).where(User.id == user_id)
                           .values(session_version=User.session_version + 1)
                           .returning(User.session_version)).scalar_one()


def sign_out_everywhere(session: Session, user_id: str) -> int:
    """Revoke every refresh token of the user and every access token issued so far; the new session version."""
    revoke_all(session, user_id)
    return bump_session_version(session, user_id)


def session_version(session: Session, user_id: str) -> int | None:
    """The user's current session version; None when the user does not exist."""
    return session.scalar(select(User.session_version).where(User.id == user_id))


@dataclass(frozen=True)
class StoredCredentials:
    user_id: str
    handle: str
    password_hash: str | None


def credentials_by_handle(session: Session, handle: str) -> StoredCredentials | None:
    row = session.execute(select(User.id, User.handle, User.password_hash)
                          .where(User.handle == handle.lower())).one_or_none()
    return StoredCredentials(*row) if row else None


def credentials_by_id(session: Session, user_id: str) -> StoredCredentials | None:
    row = session.execute(select(User.id, User.handle, User.password_hash).where(User.id == user_id)).one_or_none()
    return StoredCredentials(*row) if row else None


def set_password_hash(session: Session, user_id: str, password_hash: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def update_profile(session: Session, user_id: str, *, display_name: str | None = None,
                   bio: str | None = None) -> User:
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise LookupError(f"user {user_id!r} does not exist")
    if display_name is not None:
        user.display_name = display_name
    if bio is not None:
        user.bio = bio
    return user


def set_avatar(session: Session, user_id: str, key: str | None) -> str | None:
    """Point the user at a new avatar (None: none); the key it replaces, for the caller to delete once this
    commits."""
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise LookupError(f"user {user_id!r} does not exist")
    old, user.avatar_key = user.avatar_key, key
    return old


def prune_refresh_tokens(session: Session, *, grace: timedelta = timedelta(days=1)) -> int:
    """Delete tokens expired for longer than ``grace`` (a used one shown after its expiry is refused as
    invalid anyway: reuse detection needs only the unexpired ones)."""
    result = session.execute(delete(RefreshToken).where(RefreshToken.expires_at < utcnow() - grace))
    return result.rowcount or 0
