"""Prometheus metrics: the names DESIGN.md fixes, on one registry per application.

The request path is the inner loop, so label children are looked up once per (method, route,
status) and cached; label values come from bounded sets only (route templates, known methods,
status codes), so a scanner hitting random paths adds no series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import exposition as text_format
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.openmetrics import exposition as openmetrics_format
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

# Fine around the 0.3 s SLO bound, coarse beyond it.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
                    0.75, 1.0, 2.5, 5.0, 10.0)
MONGO_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _CacheCounts(Collector):
    """catalog_cache_requests_total, read from the cache's plain counters at scrape time."""

    def __init__(self, read: Callable[[], tuple[int, int]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        hits, misses = self._read()
        family = CounterMetricFamily("catalog_cache_requests", "Catalog cache lookups",
                                     labels=["result"])
        family.add_metric(["hit"], hits)
        family.add_metric(["miss"], misses)
        yield family


class Metrics:
    def __init__(self, *, version: str, commit: str) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.requests = Counter("http_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.duration = Histogram("http_request_duration_seconds", "HTTP request duration",
                                  ["method", "route"], buckets=DURATION_BUCKETS,
                                  registry=registry)
        self.in_flight = Gauge("http_requests_in_flight", "HTTP requests being handled",
                               registry=registry)
        self.mongo = Histogram("mongo_command_duration_seconds", "MongoDB command duration",
                               ["command", "outcome"], buckets=MONGO_BUCKETS, registry=registry)
        self.auth_events = Counter("auth_events_total", "Authentication events", ["event"],
                                   registry=registry)
        self.ratelimit_rejections = Counter("ratelimit_rejections_total",
                                            "Requests refused by the rate limiter", ["scope"],
                                            registry=registry)
        self.dependency_up = Gauge("app_dependency_up", "1 when the dependency answers",
                                   ["dependency"], registry=registry)
        build = Gauge("app_build_info", "The running build", ["version", "commit"],
                      registry=registry)
        build.labels(version=version, commit=commit).set(1)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def watch_catalog_cache(self, read: Callable[[], tuple[int, int]]) -> None:
        self.registry.register(_CacheCounts(read))

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, trace_id: str | None
    ) -> None:
        if method not in KNOWN_METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)),
                        self.duration.labels(method, route))
            self._children[key] = children
        if trace_id is None:
            children[0].inc()
            children[1].observe(seconds)
        else:
            exemplar = {"trace_id": trace_id}
            children[0].inc(1, exemplar)
            children[1].observe(seconds, exemplar)

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition: OpenMetrics (with exemplars) when the scraper asks for it."""
        if "application/openmetrics-text" in accept:
            return (openmetrics_format.generate_latest(self.registry),
                    openmetrics_format.CONTENT_TYPE_LATEST)
        return text_format.generate_latest(self.registry), text_format.CONTENT_TYPE_LATEST
