"""Transport-neutral HTTP values for the edge: a request, a response, content types, CORS headers.

Both transports (HTTP/3 over aioquic, HTTP/1.1 over TCP) turn bytes into a :class:`Request` and a
:class:`Response` back into bytes; the application in between never sees which one it is.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

SERVER_NAME = "reelflow-edge"
MAX_TARGET = 4096  # longest :path / request-target accepted (414 above)
MAX_BODY = 1024 * 1024  # request bodies are small JSON admin calls
# The admin API's bearer token: RFC 6750's b64token alphabet (it must fit an Authorization header as is),
# and long enough that guessing it over the network is hopeless (`secrets.token_urlsafe(32)` gives 43).
ADMIN_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MIN_ADMIN_TOKEN_CHARS = 16

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
}
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"}

# CORS for the web player (hls.js fetches with Range and reads these headers).
CORS_ALLOW_HEADERS = "Range, If-Range, If-None-Match, If-Modified-Since, X-Client-Region"
CORS_EXPOSE_HEADERS = "Content-Length, Content-Range, Accept-Ranges, Age, ETag, X-Cache, X-Served-By"
CORS_HEADERS = [("access-control-allow-origin", "*"), ("access-control-expose-headers", CORS_EXPOSE_HEADERS),
                ("timing-allow-origin", "*")]


def content_type_for(path: str, given: str | None = None) -> str:
    """The origin's type unless it is generic (S3 defaults to octet-stream); else by extension."""
    if given and given.split(";", 1)[0].strip().lower() not in GENERIC_TYPES:
        return given
    return CONTENT_TYPES.get(PurePosixPath(path).suffix.lower(), given or "application/octet-stream")


def is_loopback(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def check_admin_token(token: str) -> str:
    """``token`` unchanged if it can serve as the admin API's bearer token; else ValueError saying why."""
    if len(token) < MIN_ADMIN_TOKEN_CHARS:
        raise ValueError(f"the edge admin token must be at least {MIN_ADMIN_TOKEN_CHARS} characters "
                         f"(got {len(token)}); generate one with: python -c 'import secrets; "
                         f"print(secrets.token_urlsafe(32))'")
    if not ADMIN_TOKEN.fullmatch(token):
        raise ValueError("the edge admin token may contain only letters, digits and - . _ ~ + / "
                         "(trailing = allowed): it is sent as is in an Authorization: Bearer header")
    return token


def bearer_token_matches(authorization: str | None, token: str) -> bool | None:
    """None: no usable ``Bearer`` credential in the header; else whether it is ``token``.

    The comparison is constant-time (hmac.compare_digest) so the answer's timing does not reveal how much
    of a guess was right; both sides are compared as bytes, which compare_digest takes whatever they hold.
    """
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    return hmac.compare_digest(credential.encode("latin-1", "replace"), token.encode("latin-1", "replace"))


@dataclass
class Request:
    method: str
    target: str  # path and query as sent
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    peer: str = ""  # client IP address
    protocol: str = "h3"  # h3, http/1.1 (or https/1.1 over TLS)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # A body sent as it comes (Server-Sent Events through the API proxy) instead of ``body``: the transports
    # write each chunk at once and close the iterator when the client goes away.
    stream: AsyncIterator[bytes] | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


Handler = Callable[[Request], Awaitable[Response]]
