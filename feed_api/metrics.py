"""Prometheus metrics: requests and latency per route template (``/v1/videos/{video_id}``, never raw
paths, so ids do not explode the label set). A pure ASGI middleware: cheaper than BaseHTTPMiddleware."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # one per app: tests build many apps in one process
        self.requests = Counter("reelflow_api_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("reelflow_api_request_seconds", "Time to the last response byte",
                                 ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.fallbacks = Counter("reelflow_feed_fallbacks", "Feed pages served by a fallback", ["reason"],
                                 registry=self.registry)
        # Which ranker ordered each For You page: model (trained ranker blended with the light one), light,
        # or pool_order (ranking itself failed). The reasons the model was not used are in fallbacks.
        self.ranked = Counter("reelflow_feed_ranked_pages", "For You pages per ranker that ordered them",
                              ["ranker"], registry=self.registry)
        self.model = Gauge("reelflow_feed_ranker_model", "1 for the model versions the feed ranks with now",
                           ["ranker_version", "two_tower_version"], registry=self.registry)
        self.model_loads = Counter("reelflow_feed_ranker_loads", "Ranker model loads by result (a failed load "
                                   "keeps the previous version serving)", ["result"], registry=self.registry)

    def endpoint(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        # Children by label values: .labels() hashes and locks on every call; the label sets are few
        # (route templates, never raw paths).
        self._counts: dict[tuple[str, str, int], object] = {}
        self._latency: dict[tuple[str, str], object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            count = self._counts.get((method, template, status))
            if count is None:
                count = self._counts[(method, template, status)] = self.metrics.requests.labels(method, template,
                                                                                                 str(status))
            latency = self._latency.get((method, template))
            if latency is None:
                latency = self._latency[(method, template)] = self.metrics.latency.labels(method, template)
            count.inc()  # type: ignore[attr-defined]
            latency.observe(time.perf_counter() - start)  # type: ignore[attr-defined]


class PipelineCollector:
    """The ingest pipeline's figures, read from the catalog at scrape time (cached ``ttl_s``): videos per
    state, failures per reason (24 h), renditions per encoder, step-duration quantiles (24 h), bytes
    published, pending purges. Any API process can serve them; the catalog is the pipeline's record."""

    def __init__(self, sessions, ttl_s: float = 15.0) -> None:
        self.sessions, self.ttl_s = sessions, ttl_s
        self._cached: tuple[float, list] | None = None

    def collect(self):
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.ttl_s:
            try:
                self._cached = (now, self._families())
            except Exception:  # a scrape must not fail because the catalog hiccuped: serve what was last seen
                if self._cached is None:
                    return
        yield from self._cached[1]

    def _families(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        from catalog.db import session_scope
        from catalog.pipeline_stats import pipeline_snapshot

        with session_scope(self.sessions) as s:
            snap = pipeline_snapshot(s)
        states = GaugeMetricFamily("reelflow_pipeline_videos", "Videos per state (not deleted)", labels=["state"])
        for k, n in snap.videos_by_state.items():
            states.add_metric([k], n)
        failures = GaugeMetricFamily("reelflow_pipeline_failures_24h", "Videos created in the last 24 h that failed, "
                                     "per reason (a failed re-run of a ready video included)", labels=["reason"])
        for k, n in snap.failures_24h.items():
            failures.add_metric([k], n)
        encoders = GaugeMetricFamily("reelflow_pipeline_renditions", "Renditions of ready videos per encoder "
                                     "(libx264, h264_nvenc, ...)", labels=["encoder"])
        for k, n in snap.encoders.items():
            encoders.add_metric([k], n)
        steps = GaugeMetricFamily("reelflow_pipeline_step_seconds", "Seconds of work per pipeline step, over videos "
                                  "ready in the last 24 h", labels=["step", "quantile"])
        for step, values in snap.step_seconds.items():
            ordered = sorted(values)
            for q in (0.5, 0.9, 0.99):
                steps.add_metric([step, str(q)], ordered[min(len(ordered) - 1, int(q * len(ordered)))])
        published = GaugeMetricFamily("reelflow_pipeline_published_bytes", "Bytes of ready renditions (average "
                                      "bit rate x duration)")
        published.add_metric([], snap.published_bytes_estimate)
        purges = GaugeMetricFamily("reelflow_pending_purges", "Deleted videos whose origin removal or CDN purge "
                                   "is pending")
        purges.add_metric([], snap.pending_purges)
        return [states, failures, encoders, steps, published, purges]
