"""Adaptive bitrate choice, sans-I/O: a throughput estimate (two EWMAs) combined with the buffer level.

The player feeds :meth:`ThroughputEstimator.sample` with (bytes, seconds) of each download and asks
:meth:`AbrController.choose` for the rung of the next segment, passing the buffer level it measured.
Nothing here does I/O or reads a clock, so the rules are tested with synthetic numbers.

The rules, and why:

- **Estimate**: the minimum of a fast and a slow EWMA, weighted by download time (as Shaka Player and
  dash.js do): the fast one reacts to drops within a segment or two, the slow one keeps a lucky burst
  from pulling the estimate up. Downloads under ``min_bytes`` are ignored: on a small object the RTT
  dominates, so its "throughput" says little about the link.
- **Start**: the richest rung that fits ``safety`` x estimate (a configured default until enough bytes
  have been measured).
- **Down**: only when the current rung no longer fits the estimate *and* fetching its next segment
  would take the buffer below ``low_buffer_s``. A full buffer absorbs a dip (buffer-based, like BBA/BOLA)
  instead of dropping quality at the first slow segment.
- **Up**: to the richest rung that fits ``up_factor(buffer)`` x estimate, where the factor grows from
  ``safety`` at ``low_buffer_s`` to ``full_buffer_factor`` at ``high_buffer_s``: a deep buffer lets the
  player try a rung closer to the link rate. No up-switch below ``low_buffer_s`` or within
  ``min_hold_segments`` of the last switch.
- **Hysteresis**: staying needs bandwidth <= estimate, switching up needs bandwidth <= factor x
  estimate with factor < 1, so an estimate that wobbles around a rung's bandwidth does not flip it.

``media_rate`` is how fast content plays relative to real time: a session played at ``speed=4`` consumes
four media seconds per wall second, so each rung costs four times its bandwidth in wall-clock throughput.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


class Ewma:
    """Exponentially weighted moving average whose weight is time: a sample of w seconds counts w times."""

    def __init__(self, half_life_s: float) -> None:
        if half_life_s <= 0:
            raise ValueError("half-life must be positive")
        self._alpha = math.exp(math.log(0.5) / half_life_s)
        self._estimate = 0.0
        self._total_weight = 0.0

    def sample(self, weight: float, value: float) -> None:
        adj = self._alpha ** weight
        self._estimate = value * (1 - adj) + adj * self._estimate
        self._total_weight += weight

    @property
    def value(self) -> float:
        # Zero-bias correction: the average starts at 0, so divide by how much weight it has gathered.
        zero_factor = 1 - self._alpha ** self._total_weight
        return self._estimate / zero_factor if zero_factor > 0 else 0.0


class ThroughputEstimator:
    """Bits per second from downloads: min(fast EWMA, slow EWMA), or ``default_bps`` until it is trusted."""

    def __init__(self, *, fast_half_life_s: float = 2.0, slow_half_life_s: float = 5.0, min_bytes: int = 16_000,
                 min_total_bytes: int = 128_000, default_bps: float = 1_000_000) -> None:
        self.fast = Ewma(fast_half_life_s)
        self.slow = Ewma(slow_half_life_s)
        self.min_bytes = min_bytes
        self.min_total_bytes = min_total_bytes
        self.default_bps = default_bps
        self.bytes_sampled = 0
        self.samples = 0

    def sample(self, nbytes: int, seconds: float) -> bool:
        """Record one download; False when it was too small (or too quick to time) to count."""
        if nbytes < self.min_bytes or seconds <= 0:
            return False
        bps = nbytes * 8 / seconds
        # Shaka weights by duration but clamps tiny durations so one instant sample cannot dominate.
        weight = max(seconds, 0.05)
        self.fast.sample(weight, bps)
        self.slow.sample(weight, bps)
        self.bytes_sampled += nbytes
        self.samples += 1
        return True

    @property
    def trusted(self) -> bool:
        return self.bytes_sampled >= self.min_total_bytes

    def estimate_bps(self) -> float:
        if not self.trusted:
            return self.default_bps
        return min(self.fast.value, self.slow.value)


@dataclass(frozen=True)
class AbrConfig:
    safety: float = 0.8  # share of the estimate a rung may use at start and for up-switches at low buffer
    full_buffer_factor: float = 0.92  # ... and with the buffer at high_buffer_s (< 1 keeps a hysteresis band)
    low_buffer_s: float = 3.0  # below this: no up-switch; a down-switch if the next segment would go below it
    high_buffer_s: float = 8.0
    min_hold_segments: int = 2  # segments to stay on a rung after a switch before switching up again

    def __post_init__(self) -> None:
        if not 0 < self.safety <= self.full_buffer_factor <= 1:
            raise ValueError("need 0 < safety <= full_buffer_factor <= 1")
        if not 0 <= self.low_buffer_s < self.high_buffer_s:
            raise ValueError("need 0 <= low_buffer_s < high_buffer_s")


@dataclass(frozen=True)
class AbrDecision:
    index: int  # into the bandwidths the controller was built with (ascending)
    reason: str  # "start", "hold", "up", "down", "absorb" (unsustainable but the buffer covers it)
    estimate_bps: float


class AbrController:
    """Chooses a rung (index into ascending ``bandwidths``) for each next segment."""

    def __init__(self, bandwidths: Sequence[int], estimator: ThroughputEstimator | None = None,
                 config: AbrConfig | None = None) -> None:
        if not bandwidths:
            raise ValueError("ABR needs at least one rung")
        if list(bandwidths) != sorted(bandwidths):
            raise ValueError("bandwidths must be ascending")
        self.bandwidths = list(bandwidths)
        self.estimator = estimator or ThroughputEstimator()
        self.config = config or AbrConfig()
        self.current: int | None = None
        self._since_switch = 0

    def on_download(self, nbytes: int, seconds: float) -> None:
        self.estimator.sample(nbytes, seconds)

    def up_factor(self, buffer_s: float) -> float:
        c = self.config
        share = min(1.0, max(0.0, (buffer_s - c.low_buffer_s) / (c.high_buffer_s - c.low_buffer_s)))
        return c.safety + share * (c.full_buffer_factor - c.safety)

    def _richest_fitting(self, budget_bps: float) -> int:
        fitting = [i for i, bw in enumerate(self.bandwidths) if bw <= budget_bps]
        return fitting[-1] if fitting else 0

    def start_at(self, index: int) -> None:
        """Begin on a rung chosen elsewhere (a prefetched start) instead of by :meth:`choose`."""
        if not 0 <= index < len(self.bandwidths):
            raise IndexError(index)
        self.current, self._since_switch = index, 0

    def choose(self, buffer_s: float, segment_s: float, *, media_rate: float = 1.0) -> AbrDecision:
        """The rung for the next segment of ``segment_s`` seconds, with ``buffer_s`` seconds buffered."""
        est = self.estimator.estimate_bps() / media_rate
        decision = self._decide(buffer_s, segment_s, est)
        if decision.index != self.current:
            self._since_switch = 0
        else:
            self._since_switch += 1
        self.current = decision.index
        return decision

    def _decide(self, buffer_s: float, segment_s: float, est: float) -> AbrDecision:
        c = self.config
        if self.current is None:
            return AbrDecision(self._richest_fitting(c.safety * est), "start", est)
        cur = self.current
        if self.bandwidths[cur] > est and cur > 0:
            fetch_s = segment_s * self.bandwidths[cur] / est if est > 0 else math.inf
            if buffer_s - fetch_s < c.low_buffer_s:
                return AbrDecision(min(cur - 1, self._richest_fitting(c.safety * est)), "down", est)
            return AbrDecision(cur, "absorb", est)
        if buffer_s >= c.low_buffer_s and self._since_switch + 1 >= c.min_hold_segments:
            target = self._richest_fitting(self.up_factor(buffer_s) * est)
            if target > cur:
                return AbrDecision(target, "up", est)
        return AbrDecision(cur, "hold", est)
