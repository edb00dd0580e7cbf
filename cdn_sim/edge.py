"""The edge application: HTTP semantics over the tier chain, independent of the transport.

``/<bucket>/<key>`` is served through :class:`~cdn_sim.cdn.CDN` from the POP of the client's region
(``x-client-region`` header or ``?region=``, else the default region; ``?pop=`` / ``x-client-pop`` pins a
POP, for simulations). Byte ranges, conditional GETs, CORS, content types by extension when the origin's
is generic. ``/player/<file>`` serves the test player's static files; ``/`` and ``/app/...`` the web app
(``app/`` under the static directory; a path under ``/app/`` that names no file and has no extension is a
client-side route and gets ``index.html``); ``/v1/...`` is forwarded to the feed API when an ``api``
handler is given (:mod:`adapters.api_proxy`), so the app and the API share an origin; ``/metrics``
Prometheus text, ``/healthz`` a liveness answer, and ``/admin/...`` purge, push and POP up/down.

Who may call ``/admin/...``: with an admin token configured (``admin_token``, REELFLOW_EDGE_ADMIN_TOKEN),
every request must carry ``Authorization: Bearer <token>``, from any peer, loopback included: in a
container every process of the host or pod shares the loopback address, so "local" proves nothing there.
Without a token, loopback peers only (a developer's machine). Requests with an ``Origin`` header (browsers)
are refused either way.

The transports (HTTP/3 and HTTP/1.1, :mod:`cdn_sim.transport`) feed :meth:`EdgeApp.handle` a
:class:`~cdn_sim.http.Request` and write back the :class:`~cdn_sim.http.Response`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cdn_sim.access import Access, AccessCache, AccessUnknown
from cdn_sim.cdn import CDN, VIDEO_ID
from cdn_sim.http import (
    CORS_ALLOW_HEADERS,
    CORS_HEADERS,
    MAX_TARGET,
    SERVER_NAME,
    Handler,
    Request,
    Response,
    bearer_token_matches,
    check_admin_token,
    content_type_for,
    is_loopback,
)
from cdn_sim.metrics import EdgeMetrics
from cdn_sim.playback_tokens import PlaybackSigner, PlaybackTokenError, split_signed
from cdn_sim.ranges import RangeNotSatisfiable, parse_range
from cdn_sim.tier import CachedObject, NotFound
from cdn_sim.transport import serve_h3, serve_tcp, start_edge

__all__ = ["DEFAULT_STATIC_DIR", "SERVER_NAME", "EdgeApp", "Handler", "Request", "Response", "serve_h3",
           "serve_tcp", "start_edge"]

log = logging.getLogger("reelflow.edge")

DEFAULT_STATIC_DIR = Path(__file__).resolve().parent / "web"
ALLOW = "GET, HEAD, OPTIONS"
PLAYER = "/player"
APP = "/app"  # the web app's files and client-side routes; "/" is its home page
API = "/v1"  # forwarded to the feed API
# An avatar's object (jobs.avatars writes them): public, content-hashed, the only non-video key served.
AVATAR_KEY = re.compile(r"u/[0-9a-f]{16}/avatar/[0-9a-f]{32}-[0-9]{2,4}\.jpg")
SIGNED_MAX_AGE_S = 300  # how long a browser may keep a private object (never past its token's expiry)


class EdgeApp:
    """Maps requests onto the tier chain, the player's files and the admin/metrics endpoints."""

    def __init__(self, cdn: CDN, buckets: tuple[str, ...] = ("vod",), *, default_region: str | None = None,
                 static_dir: Path | None = DEFAULT_STATIC_DIR, extra_headers: list[tuple[str, str]] | None = None,
                 clock: Callable[[], float] = time.monotonic, admin_token: str | None = None,
                 access: AccessCache | None = None, playback: PlaybackSigner | None = None,
                 wall_clock: Callable[[], float] = time.time, api: Handler | None = None) -> None:
        self.cdn = cdn
        self.api = api  # the feed API behind /v1 (None: /v1 answers 404)
        # Without ``access`` (no catalog: simulations, a developer's bare edge) every object is public;
        # with it, each video object is gated before any tier answers (see _gate).
        self.access, self.playback, self.wall_clock = access, playback, wall_clock
        # "" counts as unset, as an empty REELFLOW_EDGE_ADMIN_TOKEN does; a set one must be a usable secret.
        self._admin_token = check_admin_token(admin_token) if admin_token else None
        self.buckets = buckets
        self.default_region = default_region or cdn.topology.regions[0]
        if self.default_region not in cdn.topology.regions:
            raise ValueError(f"default region {self.default_region!r} is not in the topology")
        self.static_dir = static_dir.resolve() if static_dir is not None else None
        self.app_dir = self.static_dir / "app" if self.static_dir is not None else None
        self.extra_headers = extra_headers or []
        self.clock = clock  # the tiers' clock: Age is measured on it
        self.metrics = EdgeMetrics(lambda: cdn.tiers)

    @property
    def admin_token_required(self) -> bool:
        return self._admin_token is not None

    async def handle(self, req: Request) -> Response:
        try:
            resp = await self._route(req)
        except Exception:  # a bug must cost one request, not the connection
            log.exception("error answering %s %s", req.method, req.target[:200])
            resp = self._plain(500, "internal error")
        self.metrics.observe(req.protocol, resp.status)
        return resp

    async def _route(self, req: Request) -> Response:
        if len(req.target) > MAX_TARGET:
            return self._plain(414, f"request target longer than {MAX_TARGET} bytes")
        target = req.target
        if target.startswith(("http://", "https://")):  # absolute-form (proxies); keep path and query
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        raw_path, _, query = target.partition("?")
        path = unquote(raw_path)
        if not path.startswith("/") or any(c in path for c in "\\\x00") or any(ord(c) < 0x20 for c in path):
            return self._plain(400, "bad request path")
        if any(seg in (".", "..") for seg in path.split("/")):
            return self._plain(400, "dot segments are not allowed in paths")
        if path == API or path.startswith(API + "/"):
            if self.api is None:
                return self._plain(404, "no API behind this edge")
            return await self.api(req)  # every method: the API answers for itself
        if req.method == "OPTIONS":
            return self._preflight()
        if path == "/admin" or path.startswith("/admin/"):
            return await self._admin(req, path)
        if req.method not in ("GET", "HEAD"):
            return self._plain(405, "method not allowed", [("allow", ALLOW)])
        if path == "/healthz":
            return self._plain(200, "ok")
        if path == "/metrics":
            return self._finish(req, Response(200, [("content-type", self.metrics.content_type)],
                                              self.metrics.render()))
        if path == PLAYER or path.startswith(PLAYER + "/"):
            return await self._static(req, path[len(PLAYER):].lstrip("/"))
        if path == "/" or path == APP or path.startswith(APP + "/"):
            return await self._app(req, path[len(APP):].lstrip("/") if path != "/" else "")
        token, path = split_signed(path)
        bucket, _, key = path.lstrip("/").partition("/")
        if bucket not in self.buckets or not key or key.endswith("/"):
            return self._plain(404, "not found")
        return await self._object(req, f"{bucket}/{key}", parse_qs(query), token)

    # -- objects through the tier chain --------------------------------------------------------------

    async def _gate(self, key: str, token: str | None) -> Response | str | None:
        """Before any tier: a refusal, or the Cache-Control a signed object is served with (None: public).

        A token must be valid for the video it is used on; a video the catalog calls gone answers 404 even
        where a tier still holds it; a private or followers-only one answers 403 without a token."""
        if self.access is None and token is None:
            return None
        parts = key.split("/")
        if token is None and len(parts) == 5 and AVATAR_KEY.fullmatch("/".join(parts[1:])):
            return None  # avatars (jobs.avatars) are public, whoever asks
        video = parts[2] if len(parts) > 3 and parts[1] == "v" and VIDEO_ID.fullmatch(parts[2]) else None
        if video is None:
            return self._plain(404, "not found")  # only videos and avatars live in the served buckets
        expires = None
        if token is not None:
            if self.playback is None:
                return self._plain(403, "this edge does not serve signed playback URLs", [NO_STORE])
            try:
                expires = self.playback.verify(token, video, now=self.wall_clock())
            except PlaybackTokenError as exc:
                return self._plain(403, str(exc), [NO_STORE])
        access = Access.PUBLIC
        if self.access is not None:
            try:
                access = await self.access.get(video)
            except AccessUnknown as exc:
                log.warning("%s", exc)
                return self._plain(503, "cannot check access now; retry", [("retry-after", "5"), NO_STORE])
        if access is Access.GONE:
            return self._plain(404, "not found", [NO_STORE])
        if access is Access.SIGNED:
            if expires is None:
                return self._plain(403, "this video is not public: play it through the signed URL the API "
                                        "gives its viewers", [NO_STORE])
            left = max(0, int(expires - self.wall_clock()))
            return f"private, max-age={min(SIGNED_MAX_AGE_S, left)}"
        return None

    async def _object(self, req: Request, key: str, query: dict[str, list[str]], token: str | None = None
                      ) -> Response:
        gate = await self._gate(key, token)
        if isinstance(gate, Response):
            return gate
        region = req.headers.get("x-client-region") or query.get("region", [None])[0]
        if region not in self.cdn.topology.regions:
            region = self.default_region  # a wrong hint must not break playback
        pin = req.headers.get("x-client-pop") or query.get("pop", [None])[0]
        try:
            pop = self.cdn.route(region, pin)
        except ValueError as exc:
            return self._plain(400, str(exc))
        except LookupError:
            return self._plain(503, "no POP is up")
        try:
            obj, outcome = await self.cdn.edges[pop.name].lookup(key)
        except NotFound:
            return self._plain(404, "not found", [("x-served-by", pop.name)])
        except Exception as exc:  # the origin is failing and no tier holds a stale copy
            log.warning("upstream error for %s at %s: %s", key, pop.name, exc)
            return self._plain(502, "origin unavailable", [("x-served-by", pop.name)])
        age = max(0, int(self.clock() - obj.date)) if obj.date is not None else 0
        if gate is not None:  # a signed object: no shared cache downstream may keep it, the browser briefly
            obj = CachedObject(obj.body, obj.content_type, gate, obj.etag)
        return self._representation(req, key, obj, [("age", str(age)), ("x-cache", outcome.value),
                                                     ("x-served-by", pop.name)])

    def _representation(self, req: Request, path: str, obj: CachedObject,
                        extra: list[tuple[str, str]]) -> Response:
        """200 / 206 / 304 / 416 for one stored object, honouring Range, If-Range and If-None-Match."""
        headers = [("content-type", content_type_for(path, obj.content_type)), ("accept-ranges", "bytes")]
        if obj.cache_control:
            headers.append(("cache-control", obj.cache_control))
        if obj.etag:
            headers.append(("etag", obj.etag))
        headers += extra
        inm = req.headers.get("if-none-match")
        if obj.etag and inm and _etag_matches(inm, obj.etag):
            return self._finish(req, Response(304, headers))
        size = obj.size
        range_header = req.headers.get("range")
        if_range = req.headers.get("if-range")
        if range_header and if_range is not None and (if_range != obj.etag or if_range.startswith("W/")):
            range_header = None  # the client's copy is another version: send the whole new one
        try:
            byte_range = parse_range(range_header, size)
        except RangeNotSatisfiable as exc:
            return self._plain(416, str(exc), [("content-range", f"bytes */{size}"), ("accept-ranges", "bytes")])
        if byte_range is None:
            return self._finish(req, Response(200, headers + [("content-length", str(size))], obj.body))
        body = obj.body[byte_range.start:byte_range.end + 1]
        headers += [("content-range", byte_range.content_range(size)), ("content-length", str(len(body)))]
        return self._finish(req, Response(206, headers, body))

    # -- the web app: its files, and index.html for its client-side routes ----------------------------

    async def _app(self, req: Request, rel: str) -> Response:
        if self.app_dir is None or not self.app_dir.is_dir():
            return self._plain(404, "not found")
        resp = await self._static(req, rel or "index.html", root=self.app_dir)
        last = rel.rsplit("/", 1)[-1]
        if resp.status == 404 and "." not in last:
            # A route of the app (/app/tag/cats): the page routes itself from location.pathname. A missing
            # file with an extension (/app/nope.js) stays a 404, not HTML under a script's name.
            resp = await self._static(req, "index.html", root=self.app_dir)
        return resp

    # -- the player's static files -------------------------------------------------------------------

    async def _static(self, req: Request, rel: str, root: Path | None = None) -> Response:
        root = root or self.static_dir
        if root is None:
            return self._plain(404, "not found")
        if rel == "" and not req.target.split("?", 1)[0].endswith("/"):
            return self._plain(301, "moved", [("location", PLAYER + "/")])  # relative links need the slash
        if any(seg.startswith(".") for seg in rel.split("/") if seg):
            return self._plain(404, "not found")  # hidden files are not part of the player
        target = (root / (rel or "index.html")).resolve()
        if not target.is_relative_to(root):  # a symlink out of the directory
            return self._plain(403, "outside the web directory")
        if target.is_dir():
            target = target / "index.html"
        try:
            body, stat = await asyncio.to_thread(lambda: (target.read_bytes(), target.stat()))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            return self._plain(404, "not found")
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        obj = CachedObject(body, content_type_for(target.name), "no-cache", etag)
        return self._representation(req, target.name, obj, [])

    # -- admin: purge, push, POPs up and down ---------------------------------------------------------

    async def _admin(self, req: Request, path: str) -> Response:
        refused = self._admin_refusal(req)
        if refused is not None:
            return refused
        if "origin" in req.headers:  # browsers send Origin on cross-site POSTs: refuse CSRF from a local page
            return self._plain(403, "admin endpoints refuse browser requests")
        parts = path.strip("/").split("/")[1:]
        if parts == ["cdn"] and req.method in ("GET", "HEAD"):
            return self._json(req, 200, {"default_region": self.default_region, **self.cdn.status()})
        if req.method != "POST":
            return self._plain(405, "admin actions are POSTs", [("allow", "POST")])
        if len(parts) == 2 and parts[0] == "purge":
            if not VIDEO_ID.fullmatch(parts[1]):
                return self._plain(400, "not a video id")
            if self.access is not None:
                self.access.invalidate(parts[1])  # a delete or takedown: ask the catalog on the next request
            removed: dict[str, int] = {}
            for bucket in self.buckets:
                for tier, n in self.cdn.purge_video(parts[1], bucket).items():
                    removed[tier] = removed.get(tier, 0) + n
            log.info("purged video %s: %d objects", parts[1], sum(removed.values()))
            return self._json(req, 200, {"video": parts[1], "removed": removed, "total": sum(removed.values())})
        if parts == ["push"]:
            return await self._push(req)
        if len(parts) == 3 and parts[0] == "pops" and parts[2] in ("down", "up"):
            try:
                self.cdn.set_down(parts[1], parts[2] == "down")
            except ValueError as exc:
                return self._plain(404, str(exc))
            return self._json(req, 200, {"down": sorted(self.cdn.down)})
        return self._plain(404, "no such admin action")

    def _admin_refusal(self, req: Request) -> Response | None:
        """None when the caller may use the admin API (see the module's docstring), else the refusal."""
        if self._admin_token is None:
            if is_loopback(req.peer):
                return None
            return self._plain(403, "admin endpoints answer loopback clients only while no admin token is "
                                    "configured (REELFLOW_EDGE_ADMIN_TOKEN)")
        match = bearer_token_matches(req.headers.get("authorization"), self._admin_token)
        if match:
            return None
        # RFC 6750 §3: 401 with a challenge; invalid_token when a credential was sent but is not the token.
        if match is None:
            challenge, text = 'Bearer realm="reelflow-edge-admin"', "admin endpoints need Authorization: Bearer <token>"
        else:
            challenge = 'Bearer realm="reelflow-edge-admin", error="invalid_token"'
            text = "the admin token is wrong"
            log.warning("admin request %s %s from %s refused: wrong token", req.method, req.target[:200], req.peer)
        return self._plain(401, text, [("www-authenticate", challenge)])

    async def _push(self, req: Request) -> Response:
        """Body: {"keys": ["/vod/..."], "playlists": ["/vod/.../master.m3u8"], "segments": 2, "pops": [...],
        "variants": 1 (only the first variant stream(s) of each master, and its audio), "views": 12.5 (the
        demand forecast per POP that motivates the push: a hint to the edge caches)}."""
        try:
            spec = json.loads(req.body or b"{}")
            if not isinstance(spec, dict):
                raise ValueError("the body must be a JSON object")
            keys = [self._admin_key(k) for k in spec.get("keys", [])]
            playlists = [self._admin_key(k) for k in spec.get("playlists", [])]
            segments = spec.get("segments", 2)
            if not isinstance(segments, int) or not 0 <= segments <= 100:
                raise ValueError("segments must be an integer from 0 to 100")
            pops = spec.get("pops")
            if pops is not None and not (isinstance(pops, list) and all(p in self.cdn.edges for p in pops)):
                raise ValueError(f"pops must list known POPs: {', '.join(self.cdn.edges)}")
            variants = spec.get("variants")
            if variants is not None and (not isinstance(variants, int) or isinstance(variants, bool)
                                         or not 1 <= variants <= 100):
                raise ValueError("variants must be an integer from 1 to 100")
            views = spec.get("views", 0)
            if isinstance(views, bool) or not isinstance(views, int | float) or not 0 <= views <= 1e9:
                raise ValueError("views must be a number from 0 to 1e9")
        except (ValueError, TypeError) as exc:
            return self._plain(400, f"bad push request: {exc}")
        if not keys and not playlists:
            return self._plain(400, "bad push request: give keys and/or playlists")
        report = await self.cdn.push(keys, pops, views=views) if keys else None
        if playlists:
            hls = await self.cdn.push_hls(playlists, segments, pops, variants=variants, views=views)
            if report is None:
                report = hls
            else:
                report.keys += hls.keys
                report.fetched += hls.fetched
                report.already_fresh += hls.already_fresh
                report.bytes += hls.bytes
                report.missing += hls.missing
                report.errors.update(hls.errors)
        assert report is not None
        log.info("pushed %d objects to %s (%d bytes)", report.fetched, report.pops, report.bytes)
        return self._json(req, 200, report.as_dict())

    def _admin_key(self, key: object) -> str:
        if not isinstance(key, str) or len(key) > MAX_TARGET:
            raise ValueError("keys are strings")
        key = key.lstrip("/")
        bucket, _, rest = key.partition("/")
        if bucket not in self.buckets or not rest or any(s in ("", ".", "..") for s in rest.split("/")):
            raise ValueError(f"not an object of {', '.join(self.buckets)}: {key!r}")
        return key

    # -- helpers -------------------------------------------------------------------------------------

    def _preflight(self) -> Response:
        return Response(204, [("access-control-allow-origin", "*"), ("access-control-allow-methods", ALLOW),
                              ("access-control-allow-headers", CORS_ALLOW_HEADERS),
                              ("access-control-max-age", "86400"), ("allow", ALLOW), ("content-length", "0")]
                        + self.extra_headers)

    def _finish(self, req: Request, resp: Response) -> Response:
        resp.headers += CORS_HEADERS + self.extra_headers
        if req.method == "HEAD":
            resp.body = b""
        return resp

    def _json(self, req: Request, status: int, value: object) -> Response:
        body = json.dumps(value, indent=1).encode() + b"\n"
        return self._finish(req, Response(status, [("content-type", "application/json"),
                                                   ("content-length", str(len(body)))], body))

    def _plain(self, status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
        body = (text + "\n").encode()
        return Response(status, [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))]
                        + (headers or []) + CORS_HEADERS + self.extra_headers, body)


NO_STORE = ("cache-control", "no-store")  # refusals depend on the token and the moment: keep none


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match uses."""
    if if_none_match.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag.removeprefix("W/") in tags
