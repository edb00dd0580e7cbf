"""Opaque, signed feed cursors: base64url(JSON) + "." + base64url(HMAC-SHA256 truncated to 128 bits).

A cursor carries the feed session (so the seen set follows it), the feed it belongs to, the user it
was issued to, and where the next page starts. Anything altered fails the HMAC and answers 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

import msgspec


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    session: str  # feed session id (16 hex)
    feed: str  # feed type plus its parameter, e.g. "for_you", "hashtag:cats"
    user: str  # who it was issued to ("" for anonymous)
    mode: str = "pool"  # pool | trend (Redis snapshot) | pg (trending keyset) | recent (ready_at keyset)
    pos: int = 0  # pages/items already served (pool, trend)
    key: list = field(default_factory=list)  # keyset of the last item served (pg, recent)
    as_of: float = 0.0  # trending scores are computed as of this time for the whole session (pg)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, secret: str) -> None:
        # A key of its own, derived from the API secret, so a token signature can never pass as a cursor's.
        self._key = hashlib.sha256(b"reelflow-cursor\x00" + secret.encode()).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, cursor: Cursor) -> str:
        # A dict by hand, not dataclasses.asdict (a deep copy): this runs on every page.
        payload = msgspec.json.encode({"session": cursor.session, "feed": cursor.feed, "user": cursor.user,
                                       "mode": cursor.mode, "pos": cursor.pos, "key": cursor.key,
                                       "as_of": cursor.as_of})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, text: str) -> Cursor:
        try:
            body, sig = text.split(".")
            payload = _unb64(body)
            if not hmac.compare_digest(self._mac(payload), _unb64(sig)):
                raise CursorError("the cursor has been altered or was not issued by this service")
            return Cursor(**msgspec.json.decode(payload))
        except CursorError:
            raise
        except (ValueError, TypeError, msgspec.DecodeError) as exc:
            raise CursorError("the cursor is malformed") from exc

    def key_for(self, text: str, feed: str, user: str | None) -> list:
        """The key of a cursor issued for ``feed`` and ``user`` (None: anonymous); CursorError for one that was
        altered, malformed, or belongs to another list or user."""
        c = self.decode(text)
        if c.feed != feed or c.user != (user or ""):
            raise CursorError("this cursor belongs to another list or user")
        return c.key
