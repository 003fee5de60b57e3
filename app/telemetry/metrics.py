"""Prometheus metrics: the names DESIGN.md fixes, on one registry per application.

The per-request metrics live in `HttpMetrics` (plain numbers, rendered at scrape time); the rest
use prometheus_client's types. Label values come from bounded sets only (route templates, known
methods, status codes), so a scanner hitting random paths adds no series.
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

from app.telemetry.http_metrics import HttpMetrics

# Fine around the 0.3 s SLO bound, coarse beyond it.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
                    0.75, 1.0, 2.5, 5.0, 10.0)
MONGO_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
        self.http = HttpMetrics(DURATION_BUCKETS)
        registry.register(self.http)
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

    def watch_catalog_cache(self, read: Callable[[], tuple[int, int]]) -> None:
        self.registry.register(_CacheCounts(read))

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition: OpenMetrics (with exemplars) when the scraper asks for it."""
        if "application/openmetrics-text" in accept:
            return (openmetrics_format.generate_latest(self.registry),
                    openmetrics_format.CONTENT_TYPE_LATEST)
        return text_format.generate_latest(self.registry), text_format.CONTENT_TYPE_LATEST
