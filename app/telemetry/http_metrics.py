"""The HTTP request metrics, kept as plain numbers and turned into Prometheus families only when
scraped.

Every request updates them, so they skip prometheus_client's per-sample locks: the event loop is
the only writer (one thread), and a scrape reads a consistent enough snapshot. Exposed exactly
as prometheus_client would: `http_requests_total{method,route,status}`,
`http_request_duration_seconds{method,route}` (cumulative buckets, _sum, _count) and
`http_requests_in_flight`, with `trace_id` exemplars on the counter and the buckets.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Series:
    __slots__ = ("buckets", "count", "count_exemplar", "exemplars", "sum")

    def __init__(self, size: int) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * size  # per bucket (not cumulative); the last one is +Inf
        self.exemplars: list[Exemplar | None] = [None] * size
        self.count_exemplar: Exemplar | None = None


class HttpMetrics(Collector):
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self._bounds = buckets
        self._labels = [floatToGoString(bound) for bound in buckets] + ["+Inf"]
        self._series: dict[tuple[str, str, int], _Series] = {}
        self.in_flight = 0

    def prime(self, method: str, route: str, status: int) -> None:
        """Expose a series at 0 before its first request: Prometheus's rate() cannot see the
        first increment of a series that is born already counting, so without this the first
        5xx of a route would be missed by the SLO rules."""
        self._series.setdefault((method, route, status), _Series(len(self._labels)))

    def observe(
        self, method: str, route: str, status: int, seconds: float, trace_id: str | None
    ) -> None:
        if method not in KNOWN_METHODS:
            method = "OTHER"  # labels from bounded sets only
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(len(self._labels))
        series.count += 1
        series.sum += seconds
        index = bisect_left(self._bounds, seconds)
        series.buckets[index] += 1
        if trace_id is not None:
            exemplar = Exemplar({"trace_id": trace_id}, seconds, time.time())
            series.exemplars[index] = exemplar
            series.count_exemplar = Exemplar({"trace_id": trace_id}, 1.0, exemplar.timestamp)

    def collect(self) -> Iterable[Metric]:
        requests = Metric("http_requests", "HTTP requests answered", "counter")
        durations = Metric("http_request_duration_seconds", "HTTP request duration", "histogram")
        merged: dict[tuple[str, str], list[_Series]] = {}
        for (method, route, status), series in list(self._series.items()):
            requests.add_sample("http_requests_total",
                                {"method": method, "route": route, "status": str(status)},
                                series.count, exemplar=series.count_exemplar)
            merged.setdefault((method, route), []).append(series)
        for (method, route), parts in merged.items():
            labels = {"method": method, "route": route}
            cumulative = 0
            for index, le in enumerate(self._labels):
                cumulative += sum(part.buckets[index] for part in parts)
                exemplar = next((part.exemplars[index] for part in parts
                                 if part.exemplars[index] is not None), None)
                durations.add_sample("http_request_duration_seconds_bucket",
                                     {**labels, "le": le}, cumulative, exemplar=exemplar)
            durations.add_sample("http_request_duration_seconds_count", labels, cumulative)
            durations.add_sample("http_request_duration_seconds_sum", labels,
                                 sum(part.sum for part in parts))
        yield requests
        yield durations
        yield GaugeMetricFamily("http_requests_in_flight", "HTTP requests being handled",
                                value=self.in_flight)
