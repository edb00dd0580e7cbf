"""Passwords: the policy a new one must meet, and argon2id hashing. Pure (no database, no HTTP).

argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane): memory-hard, so a GPU guesses
slowly, yet ~20 ms and 19 MiB a hash, so a burst of logins cannot exhaust the API's memory. A stored hash
carries its own parameters: changing :data:`DEFAULT_PARAMETERS` leaves old hashes verifiable, and
:meth:`Passwords.needs_rehash` says when a successful login should store a new one.

Passwords are NFKC-normalised before hashing (NIST SP 800-63B), so the same password typed on two
keyboards that compose characters differently still matches. The length limit is in UTF-8 bytes: argon2
hashes any length, but a 10 MB password would cost the server a 10 MB hash input per attempt.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_CHARS = 8
MAX_BYTES = 1024


class WeakPassword(ValueError):
    """The password does not meet the policy; the message says how."""


@dataclass(frozen=True)
class Parameters:
    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1


DEFAULT_PARAMETERS = Parameters()


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, *, handle: str = "") -> str:
    """The normalised password if a new password may be ``password``; WeakPassword otherwise."""
    pw = normalise(password)
    if "\x00" in pw:
        raise WeakPassword("a password cannot contain a NUL character")
    if len(pw) < MIN_CHARS:
        raise WeakPassword(f"a password needs at least {MIN_CHARS} characters")
    if len(pw.encode()) > MAX_BYTES:
        raise WeakPassword(f"a password can be at most {MAX_BYTES} bytes (UTF-8)")
    if pw.strip() == "":
        raise WeakPassword("a password cannot be only spaces")
    if handle and pw.lower() == handle.lower():
        raise WeakPassword("a password cannot be the handle")
    return pw


class Passwords:
    """Hash and verify with one set of parameters."""

    def __init__(self, params: Parameters = DEFAULT_PARAMETERS) -> None:
        self._hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                                      parallelism=params.parallelism, type=Type.ID)

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalise(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``. With no stored hash (unknown user, no password set) a
        dummy hash is verified anyway, so the answer takes as long as a real mismatch and timing tells an
        attacker nothing about which handles exist."""
        pw = normalise(password)
        if len(pw.encode()) > MAX_BYTES:  # never hash an oversized input; no stored hash can match it
            return False
        try:
            return self._hasher.verify(stored or self._dummy, pw) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """The stored hash was made with other parameters (or another variant): store a fresh one."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    @cached_property
    def _dummy(self) -> str:
        # A hash of a random password with the current parameters: verifying against it costs what a real one does.
        return self._hasher.hash(secrets.token_urlsafe(16))
