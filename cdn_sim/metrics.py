"""Prometheus metrics for the tier chain, read from the tiers' own counters at scrape time.

A collector rather than Counter objects incremented on the hot path: the tiers stay free of prometheus
and the numbers cannot drift from what the tiers did. Each edge app has its own registry, so several
apps in one process (tests, the benchmark) do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from cdn_sim.tier import CacheTier

PREFIX = "reelflow_cdn"

# counter name -> (TierCounters field, help)
_COUNTERS = {
    "hits": ("hits", "Requests answered from this tier's cache while fresh"),
    "misses": ("misses", "Requests this tier could not answer fresh from its cache"),
    "hit_bytes": ("hit_bytes", "Bytes answered from cache"),
    "miss_bytes": ("miss_bytes", "Bytes answered after going upstream (or waiting on a fetch in flight)"),
    "coalesced": ("coalesced", "Misses that joined a fetch already in flight instead of starting one"),
    "upstream_fetches": ("upstream_fetches", "Fetches this tier sent upstream"),
    "upstream_errors": ("upstream_errors", "Upstream fetches that failed (not-found excluded)"),
    "not_found": ("not_found", "Upstream fetches answered 'no such object'"),
    "stale_served": ("stale_served", "Expired objects served because upstream failed"),
    "prefetched": ("prefetched", "Objects pushed into this tier ahead of demand"),
    "prefetched_bytes": ("prefetched_bytes", "Bytes pushed into this tier ahead of demand"),
    "purged": ("purged", "Objects removed by purges"),
}


class TierCollector(Collector):
    def __init__(self, tiers: Callable[[], Iterable[CacheTier]]) -> None:
        self._tiers = tiers

    def collect(self) -> Iterator[Metric]:
        tiers = list(self._tiers())
        labels = ["tier", "level"]
        for name, (attr, doc) in _COUNTERS.items():
            family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)
            for t in tiers:
                family.add_metric([t.name, t.level], getattr(t.counters, attr))
            yield family
        evictions = CounterMetricFamily(f"{PREFIX}_evictions", "Objects evicted to make room", labels=labels)
        used = GaugeMetricFamily(f"{PREFIX}_cache_used_bytes", "Bytes held", labels=labels)
        capacity = GaugeMetricFamily(f"{PREFIX}_cache_capacity_bytes", "Byte capacity", labels=labels)
        objects = GaugeMetricFamily(f"{PREFIX}_cache_objects", "Objects held", labels=labels)
        for t in tiers:
            evictions.add_metric([t.name, t.level], getattr(t.cache.stats, "evictions", 0))
            used.add_metric([t.name, t.level], t.cache.used)
            capacity.add_metric([t.name, t.level], t.cache.capacity)
            objects.add_metric([t.name, t.level], len(t.cache))
        yield from (evictions, used, capacity, objects)


class EdgeMetrics:
    """One app's registry: the tier counters plus responses by protocol and status."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, tiers: Callable[[], Iterable[CacheTier]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(TierCollector(tiers))
        self.responses = Counter("reelflow_edge_responses", "Responses sent by the edge",
                                 ["protocol", "status"], registry=self.registry)

    def observe(self, protocol: str, status: int) -> None:
        self.responses.labels(protocol, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
