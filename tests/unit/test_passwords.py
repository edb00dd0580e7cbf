"""Password policy and argon2id hashing (catalog.passwords): pure, no services."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher

from catalog.passwords import MAX_BYTES, Parameters, Passwords, WeakPassword, check_policy

FAST = Parameters(time_cost=1, memory_kib=1024, parallelism=1)


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "at least 8"),
    ("é" * 513, "at most 1024 bytes"),  # 513 characters, 1026 bytes: the limit is in bytes
    ("        ", "only spaces"),
    ("abc\x00defgh", "NUL"),
    ("Alice_1234", "the handle"),
])
def test_policy_refuses(password, problem):
    with pytest.raises(WeakPassword, match=problem):
        check_policy(password, handle="alice_1234")


def test_policy_accepts_and_normalises():
    assert check_policy("correct horse") == "correct horse"
    assert check_policy("x" * MAX_BYTES) == "x" * MAX_BYTES
    # NFKC: the full-width and the ASCII spelling are one password.
    assert check_policy("ｐａｓｓｗｏｒｄ１２") == "password12"


def test_hash_verify_and_normalisation():
    pw = Passwords(FAST)
    stored = pw.hash("ｐａｓｓｗｏｒｄ１２")
    assert stored.startswith("$argon2id$")
    assert pw.verify(stored, "password12") and pw.verify(stored, "ｐａｓｓｗｏｒｄ１２")
    assert not pw.verify(stored, "password13")
    assert not pw.verify(None, "password12")  # no stored hash: never a match
    assert not pw.verify("not a hash", "password12")
    assert not pw.verify(stored, "x" * 5000)  # oversized: refused without hashing it


def test_rehash_when_parameters_change():
    old = Passwords(FAST).hash("password12")
    current = Passwords(Parameters(time_cost=2, memory_kib=2048, parallelism=1))
    assert current.needs_rehash(old) and current.verify(old, "password12")  # still verifies, then rehashed
    assert not current.needs_rehash(current.hash("password12"))
    argon2i = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1,
                             type=__import__("argon2").Type.I).hash("password12")
    assert current.needs_rehash(argon2i)


def test_unknown_user_costs_what_a_wrong_password_costs():
    pw = Passwords()  # the real parameters: the dummy hash must match them
    stored = pw.hash("password12")
    pw.verify(None, "warm-up")

    def timed(stored_hash):
        start = time.perf_counter()
        for _ in range(5):
            pw.verify(stored_hash, "wrong password")
        return time.perf_counter() - start

    known, unknown = timed(stored), timed(None)
    assert 0.5 < unknown / known < 2.0, (known, unknown)
