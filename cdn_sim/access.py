"""Who may read a video's objects at the edge, asked before any tier answers.

The edge serves three kinds of video: ``PUBLIC`` ones to anyone (cacheable everywhere, as before),
``SIGNED`` ones (private and followers-only) only with a playback token for that video
(:mod:`cdn_sim.playback_tokens`), and ``GONE`` ones (deleted, taken down, never published) to no one, even
while a tier still holds their bytes. The answer comes from the catalog (an adapter supplies the lookup);
:class:`AccessCache` keeps answers for a few seconds so the hot path stays in memory, shares one lookup
among concurrent requests for the same video, drops an answer when the video is purged (the API purges on
delete and takedown), and keeps serving the last answer through a short catalog outage rather than
failing every request.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable

log = logging.getLogger("reelflow.edge")


class Access(enum.Enum):
    PUBLIC = "public"
    SIGNED = "signed"  # needs a playback token for the video
    GONE = "gone"


class AccessUnknown(RuntimeError):
    """The catalog could not be asked and no recent answer is known: serve nothing."""


Lookup = Callable[[str], Access]  # blocking (a database question); run in a worker thread


class AccessCache:
    def __init__(self, lookup: Lookup, *, ttl_s: float = 5.0, stale_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._lookup, self._ttl_s, self._stale_s, self._clock = lookup, ttl_s, stale_s, clock
        self._max = max_entries
        # video -> (when the catalog gave the answer, until when it is used without asking, the answer)
        self._answers: dict[str, tuple[float, float, Access]] = {}
        self._pending: dict[str, asyncio.Future[Access]] = {}
        self.stats = {"lookups": 0, "stale_served": 0, "failures": 0}

    def invalidate(self, video_id: str) -> None:
        self._answers.pop(video_id, None)

    async def get(self, video_id: str) -> Access:
        now = self._clock()
        known = self._answers.get(video_id)
        if known is not None and now < known[1]:
            return known[2]
        pending = self._pending.get(video_id)
        if pending is not None:  # another request is asking already: share its answer
            return await asyncio.shield(pending)
        future: asyncio.Future[Access] = asyncio.get_running_loop().create_future()
        self._pending[video_id] = future
        try:
            answer = await self._ask(video_id, known, now)
        except AccessUnknown as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it; no "never retrieved" warning
            raise
        else:
            future.set_result(answer)
            return answer
        finally:
            self._pending.pop(video_id, None)

    async def _ask(self, video_id: str, known: tuple[float, float, Access] | None, now: float) -> Access:
        self.stats["lookups"] += 1
        try:
            answer = await asyncio.to_thread(self._lookup, video_id)
        except Exception as exc:
            self.stats["failures"] += 1
            if known is None or now - known[0] >= self._stale_s:
                raise AccessUnknown(f"cannot tell whether video {video_id} may be served: {exc}") from exc
            self.stats["stale_served"] += 1
            log.warning("catalog lookup for %s failed (%s); using its answer from %.0f s ago",
                        video_id, exc, now - known[0])
            # Ask again after another TTL, not on every request: a down catalog costs a timeout per ask.
            self._answers[video_id] = (known[0], now + self._ttl_s, known[2])
            return known[2]
        if len(self._answers) >= self._max:
            self._answers.clear()  # rare and cheap to refill; bounds memory against id-scanning clients
        fetched = self._clock()
        self._answers[video_id] = (fetched, fetched + self._ttl_s, answer)
        return answer
