"""A playback clock with a buffer, sans-I/O: the caller passes wall-clock times, the clock does the arithmetic.

Media time advances ``speed`` media seconds per wall second while there is buffered content. When the
position catches up with the buffered end before the stop point, playback stalls; the stall is dated
to the exact moment the buffer ran dry (computed lazily, so no timer is needed) and ends when enough
content arrives. Startup is the wall time from the clock's start (the tap or swipe) to the first frame,
which is when the first content of every track is in hand.

With ``speed > 1`` a test plays a 10 s video in 1 s of wall time, but the network is not sped up: relative
to the content it looks ``speed`` times slower. Rebuffer counts and the rebuffer ratio then describe that
slower network; stall durations are reported in wall seconds, as measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Stall:
    start_wall: float  # wall time the buffer ran dry
    position_s: float  # media position where it happened
    end_wall: float | None = None  # None while still stalled

    def duration(self, now: float) -> float:
        return (self.end_wall if self.end_wall is not None else now) - self.start_wall


@dataclass(frozen=True)
class PlaybackStats:
    startup_s: float | None
    position_s: float
    played_wall_s: float
    rebuffer_count: int
    rebuffer_s: float
    rebuffer_ratio: float  # stalled wall time / (played wall time + stalled wall time)
    finished: bool


class PlaybackClock:
    """Position, buffer and stalls of one playback, as functions of the wall times the caller reports.

    ``stop_at_s`` is where playback ends: the media duration, or the point where the viewer swipes away
    (a watch limit), whichever comes first. ``resume_buffer_s`` is how much must be buffered to resume
    after a stall (players wait for a little content to avoid stalling again at once).
    """

    def __init__(self, start_wall: float, *, speed: float = 1.0, stop_at_s: float = math.inf,
                 start_buffer_s: float = 0.0, resume_buffer_s: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_wall = start_wall
        self.speed = speed
        self.stop_at_s = stop_at_s
        self.start_buffer_s = start_buffer_s
        self.resume_buffer_s = resume_buffer_s
        self.buffered_end_s = 0.0
        self.position_s = 0.0
        self.first_frame_wall: float | None = None
        self.finished_wall: float | None = None
        self.stalls: list[Stall] = []
        self._playing = False
        self._last = start_wall

    # -- state transitions -------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Move the position to ``now``: play, run dry (stall) or reach the stop point."""
        if now < self._last:
            raise ValueError(f"time went backwards: {now} < {self._last}")
        if self._playing:
            limit = min(self.buffered_end_s, self.stop_at_s)
            reach = self.position_s + (now - self._last) * self.speed
            if reach >= limit:
                at = self._last + (limit - self.position_s) / self.speed
                self.position_s = limit
                self._playing = False
                if limit >= self.stop_at_s:
                    self.finished_wall = at
                else:
                    self.stalls.append(Stall(at, limit))
            else:
                self.position_s = reach
        self._last = now

    def extend(self, buffered_end_s: float, now: float) -> None:
        """Content up to ``buffered_end_s`` (media seconds, contiguous in every track) is now in hand."""
        self.advance(now)
        self.buffered_end_s = max(self.buffered_end_s, buffered_end_s)
        if self.finished or self._playing:
            return
        ahead = self.buffered_end_s - self.position_s
        remaining = self.stop_at_s - self.position_s
        if self.first_frame_wall is None:
            if ahead > 0 and ahead >= min(self.start_buffer_s, remaining):
                self.first_frame_wall = now
                self._playing = True
        elif ahead > 0 and ahead >= min(self.resume_buffer_s, remaining):
            self.stalls[-1].end_wall = now
            self._playing = True

    def set_stop(self, stop_at_s: float, now: float) -> None:
        """Learn (or shorten) the stop point, e.g. once the playlists tell the real duration."""
        self.advance(now)
        self.stop_at_s = stop_at_s
        if self.position_s >= stop_at_s and self.first_frame_wall is not None and self.finished_wall is None:
            self.position_s = stop_at_s
            self._playing = False
            self.finished_wall = now
            if self.stalled:
                # Running dry at the (new) stop point was the end of the content, not a rebuffer.
                self.finished_wall = self.stalls.pop().start_wall

    # -- queries -----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.first_frame_wall is not None

    @property
    def finished(self) -> bool:
        return self.finished_wall is not None

    @property
    def stalled(self) -> bool:
        return bool(self.stalls) and self.stalls[-1].end_wall is None

    @property
    def startup_s(self) -> float | None:
        return None if self.first_frame_wall is None else self.first_frame_wall - self.start_wall

    def position(self, now: float) -> float:
        self.advance(now)
        return self.position_s

    def buffer_s(self, now: float) -> float:
        """Media seconds buffered ahead of the position."""
        self.advance(now)
        return max(0.0, self.buffered_end_s - self.position_s)

    def wall_until_buffer(self, level_s: float, now: float) -> float:
        """Wall seconds until the buffer drains to ``level_s`` (0 if it already has; inf when not playing)."""
        ahead = self.buffer_s(now)
        if ahead <= level_s:
            return 0.0
        if not self._playing:
            return math.inf
        return (ahead - level_s) / self.speed

    def wall_until_stop(self, now: float) -> float:
        """Wall seconds until the stop point if nothing stalls (inf when not playing; 0 when finished)."""
        self.advance(now)
        if self.finished:
            return 0.0
        if not self._playing or math.isinf(self.stop_at_s):
            return math.inf
        return (min(self.buffered_end_s, self.stop_at_s) - self.position_s) / self.speed

    def stats(self, now: float) -> PlaybackStats:
        self.advance(now)
        end = self.finished_wall if self.finished_wall is not None else now
        rebuffer = sum(s.duration(end) for s in self.stalls)
        played = self.position_s / self.speed
        total = played + rebuffer
        return PlaybackStats(startup_s=self.startup_s, position_s=self.position_s, played_wall_s=played,
                             rebuffer_count=len(self.stalls), rebuffer_s=rebuffer,
                             rebuffer_ratio=rebuffer / total if total > 0 else 0.0, finished=self.finished)
