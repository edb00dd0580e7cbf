"""Where the CDN's caches sit: regions with edge POPs, a regional tier per region, one origin shield.

Pure data and routing. A client goes to the nearest POP of its own region that is up; when every POP
of the region is down, to the nearest POP elsewhere (by the distance table), as anycast or DNS steering
would send it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pop:
    name: str  # e.g. "eu-west-1"
    region: str


@dataclass(frozen=True)
class Topology:
    pops: tuple[Pop, ...]
    # Round-trip milliseconds between regions (symmetric; a region to itself is its POPs' distance).
    distance_ms: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [p.name for p in self.pops]
        if not names:
            raise ValueError("a topology needs at least one POP")
        if len(set(names)) != len(names):
            raise ValueError(f"POP names must be unique: {names}")

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.region for p in self.pops))

    def pops_in(self, region: str) -> tuple[Pop, ...]:
        return tuple(p for p in self.pops if p.region == region)

    def distance(self, a: str, b: str) -> float:
        if a == b:
            return self.distance_ms.get((a, a), 0.0)
        return self.distance_ms.get((a, b), self.distance_ms.get((b, a), float("inf")))

    def route(self, region: str, down: Iterable[str] = ()) -> Pop:
        """The POP serving a client in ``region``; POPs named in ``down`` are skipped."""
        if region not in self.regions:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(self.regions)}")
        down = set(down)
        # Stable order: own region first, then by distance, then declaration order within a region.
        order = sorted(range(len(self.pops)),
                       key=lambda i: (self.distance(region, self.pops[i].region), self.pops[i].region != region, i))
        for i in order:
            if self.pops[i].name not in down:
                return self.pops[i]
        raise LookupError("every POP is down")


def default_topology() -> Topology:
    """Three regions, two POPs each; distances are typical inter-continental RTTs."""
    regions = ("eu", "us", "ap")
    pops = tuple(Pop(f"{r}-{n}", r) for r in regions for n in (1, 2))
    distance = {("eu", "eu"): 10.0, ("us", "us"): 10.0, ("ap", "ap"): 10.0,
                ("eu", "us"): 80.0, ("us", "ap"): 120.0, ("eu", "ap"): 160.0}
    return Topology(pops, distance)
