"""Signed playback: short-lived tokens that open one video's objects at the edge, as CDNs' signed URLs do.

A token is ``<expiry>.<signature>``: the expiry in Unix seconds and an HMAC-SHA256 over the video id and the
expiry, truncated to 128 bits and base64url-encoded. The token rides in the path, ``/t/<token>/<bucket>/v/
<video>/<publication>/master.m3u8``, so every URI of the HLS playlists, all relative, resolves under the
same token: the player needs no cookie and no playlist rewriting. The signature covers the video id, not the
publication, so a token keeps working across a re-ladder of the same video and opens no other video.

Pure: the API signs (:mod:`feed_api.services`), the edge verifies (:mod:`cdn_sim.edge`); both get the key
from the settings. Several keys may verify (rotation: sign with the first, accept any).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

TOKEN_SEGMENT = "t"  # /t/<token>/... marks a signed path
SIGNATURE_BYTES = 16  # 128 bits: far beyond guessing within a token's life
MIN_KEY_BYTES = 32


class PlaybackTokenError(ValueError):
    """Why a token opens nothing: malformed, expired, or not signed for this video."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PlaybackSigner:
    """Issues and checks tokens for ``ttl_s`` seconds. ``keys[0]`` signs; every key verifies."""

    def __init__(self, keys: Sequence[bytes], ttl_s: int) -> None:
        if not keys or any(len(k) < MIN_KEY_BYTES for k in keys):
            raise ValueError(f"playback signing keys must be at least {MIN_KEY_BYTES} bytes")
        if ttl_s <= 0:
            raise ValueError("the playback token lifetime must be positive")
        self._keys, self.ttl_s = tuple(keys), ttl_s

    def _signature(self, key: bytes, video_id: str, expires: int) -> bytes:
        return hmac.new(key, f"{video_id}\n{expires}".encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def token(self, video_id: str, *, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.ttl_s)
        return f"{expires}.{_b64(self._signature(self._keys[0], video_id, expires))}"

    def verify(self, token: str, video_id: str, *, now: float | None = None) -> int:
        """The token's expiry (Unix seconds) when it opens ``video_id`` now; else PlaybackTokenError."""
        expires_text, dot, signature_text = token.partition(".")
        if not dot or not expires_text.isdigit() or len(expires_text) > 12:
            raise PlaybackTokenError("malformed playback token")
        try:
            signature = _unb64(signature_text)
        except (ValueError, TypeError) as exc:
            raise PlaybackTokenError("malformed playback token") from exc
        expires = int(expires_text)
        if not any(hmac.compare_digest(signature, self._signature(k, video_id, expires)) for k in self._keys):
            raise PlaybackTokenError("the playback token is not valid for this video")
        if expires <= (time.time() if now is None else now):
            raise PlaybackTokenError("the playback token has expired")
        return expires

    def signed_path(self, path: str, video_id: str, *, now: float | None = None) -> str:
        """``/<bucket>/<key>`` -> ``/t/<token>/<bucket>/<key>``."""
        return f"/{TOKEN_SEGMENT}/{self.token(video_id, now=now)}/{path.lstrip('/')}"


def split_signed(path: str) -> tuple[str | None, str]:
    """``/t/<token>/<rest>`` -> (token, ``/<rest>``); any other path -> (None, path)."""
    head = f"/{TOKEN_SEGMENT}/"
    if not path.startswith(head):
        return None, path
    token, slash, rest = path[len(head):].partition("/")
    return token, (slash + rest) if slash else "/"
