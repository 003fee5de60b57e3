"""alerts/tests/*.yml: `promtool test rules` cases generated from the same spec as the rules.

For each burn-rate alert: it fires (and goes through pending first), it stays silent just
below each threshold, and it resolves; the recording rules are checked on the way. The
operational alerts keep their hand-chosen cases, with the job and routes of this service.

Every input counter starts at 0 at t=0 and is sampled every minute until the test's end, so
the SLI over a window is exactly (bad increase) / (total increase) within it: the expected
values below are that arithmetic, formatted as Prometheus formats them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from generate import alerts as rules
from generate.alerts import (
    VALUE,
    availability_annotations,
    budget_remaining,
    error_ratio,
    latency_annotations,
    links,
    slow_ratio,
)
from generate.spec import (
    HEADER,
    PAGE_FAST,
    PAGE_SLOW,
    TICKET,
    Context,
    Route,
    number,
    percent,
)
from generate.yamltext import Commented, Flow, Quoted, dump

PER_MINUTE = 1000  # requests a minute in the SLO cases
END = 450  # minutes: long enough for a 6h window to clear after the errors stop
# "Just above" and "just below" a threshold: the spec's burn rates times these.
ABOVE, BELOW = 1.1, 0.9
HISTORY, FAST_BURST = 360, 55  # minutes: good traffic, then a burst for the fast page alone
Segments = list[tuple[float, int]]  # (increase a minute, minutes)


def values(segments: Segments) -> Quoted:
    """promtool's expanding notation for a counter from 0 at t=0, one sample a minute. promtool
    expands `a+bxn` by adding b n times, so the running total is summed the same way and written
    exactly: a segment that starts a hair below the last one's float would read as a reset."""
    def exact(value: float) -> str:
        return number(value) if float(number(value)) == value else repr(value)

    parts, total = [], 0.0
    for index, (unrounded, minutes) in enumerate(segments):
        rate = float(number(unrounded))  # as written, and as promtool adds it
        if index == 0:
            parts.append(f"0+{number(rate)}x{minutes}")
        elif minutes == 1:
            parts.append(exact(total + rate))
        else:
            parts.append(f"{exact(total + rate)}+{number(rate)}x{minutes - 1}")
        for _ in range(minutes):
            total += rate
    return Quoted(" ".join(parts), "'")


def increase(segments: Segments, start: float, end: float) -> float:
    """The counter's increase between minutes `start` and `end` (start clipped at 0)."""
    total, t = 0.0, 0
    for rate, minutes in segments:
        low, high = max(t, start), min(t + minutes, end)
        if high > low:
            total += rate * (high - low)
        t += minutes
    return total


def subtract(total: Segments, part: Segments) -> Segments:
    """The per-minute difference of two counters' increases, as segments."""
    def per_minute(segments: Segments) -> list[float]:
        return [rate for rate, count in segments for _ in range(count)]

    out: Segments = []
    for rate in (t - p for t, p in zip(per_minute(total), per_minute(part), strict=True)):
        if out and out[-1][0] == rate:
            out[-1] = (rate, out[-1][1] + 1)
        else:
            out.append((rate, 1))
    return out


def minutes(duration: str) -> float:
    return int(duration[:-1]) * {"m": 1, "h": 60, "d": 1440, "w": 10080}[duration[-1]]


PAGE_FOR, TICKET_FOR = (int(minutes(d)) for d in (rules.PAGE_FOR, rules.TICKET_FOR))


def series(metric: str, labels: dict[str, str], segments: Segments) -> dict[str, Any]:
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": Quoted(f"{metric}{{{text}}}", "'"), "values": values(segments)}


def rounded(value: float) -> float | int:
    """PromQL's round(v, 0.0001)."""
    result = math.floor(value * 10000 + 0.5) / 10000
    return int(result) if result == int(result) else result


class SloCases:
    """The cases for one SLO: `bad` and `total` give the input series of an error ratio."""

    def __init__(self, ctx: Context, slo: str) -> None:
        self.ctx, self.slo = ctx, slo
        spec = ctx.spec
        self.job = spec.name
        self.objective = spec.availability if slo == "availability" else spec.latency
        self.budget = self.objective.budget
        self.alert = "ApiAvailabilityBudgetBurn" if slo == "availability" else \
            "ApiLatencyBudgetBurn"
        self.annotations = availability_annotations if slo == "availability" else \
            latency_annotations
        self.ratio = error_ratio if slo == "availability" else \
            (lambda window: slow_ratio(ctx, window))
        self.route = ctx.example(slo)

    def labels(self, route: Route, **extra: str) -> dict[str, str]:
        return {"job": self.job, "instance": "a", "method": route.method, "route": route.path,
                **extra}

    def inputs(self, route: Route, bad: Segments, total: Segments) -> list[dict[str, Any]]:
        """Series in which `bad` of `total` requests to `route` fail the SLO."""
        good = subtract(total, bad)
        if self.slo == "availability":
            return [series("http_requests_total", self.labels(route, status="200"), good),
                    series("http_requests_total", self.labels(route, status="500"), bad)]
        le = self.ctx.spec.latency.le
        return [series("http_request_duration_seconds_bucket", self.labels(route, le=le), good),
                series("http_request_duration_seconds_count", self.labels(route), total)]

    def expected(self, severity: str, ratio: float) -> dict[str, Any]:
        annotations = self.annotations(self.ctx, severity)
        return {"exp_labels": Flow({"severity": severity, "job": self.job}),
                "exp_annotations": {key: Quoted(value.replace(VALUE, percent(ratio)))
                                    for key, value in annotations.items()}}

    def ratio_at(self, bad: Segments, total: Segments, window: str, at: float) -> float:
        start = at - minutes(window)
        return increase(bad, start, at) / increase(total, start, at)

    def alerts(self, at: float, alerts: list[dict[str, Any]], comment: str = "") -> Any:
        case = {"eval_time": f"{number(at)}m", "alertname": self.alert, "exp_alerts": alerts}
        return Commented(case, comment) if comment else case

    def cases(self) -> list[Any]:
        spec, b, n, what = self.ctx.spec, self.budget, PER_MINUTE, self._what()
        fast, slow, ticket = (spec.burn_rate(share, long) for share, long, _ in
                              (PAGE_FAST, PAGE_SLOW, TICKET))
        route, window = self.route, spec.window

        def steady(ratio: float, length: int) -> tuple[Segments, Segments]:
            return [(ratio * n, length)], [(float(n), length)]

        # Fires: just above the fast page for an hour from the start (every window holds the
        # same ratio), then none: the page's and the ticket's `for:`, and both resolving.
        fire = ABOVE * fast * b
        bad, total = [(fire * n, 60), (0.0, END - 60)], [(float(n), END)]
        three_days = self.ratio_at(bad, total, "3d", 100)
        fires = {
            "interval": "1m",
            "input_series": self.inputs(route, bad, total),
            "promql_expr_test": [
                {"expr": f"round({self.ratio('5m')}, 0.0001)", "eval_time": "30m",
                 "exp_samples": [{"labels": Quoted(f'{{job="{self.job}"}}', "'"),
                                  "value": rounded(self.ratio_at(bad, total, "5m", 30))}]},
                {"expr": f"round({budget_remaining(self.ctx, self.slo)}, 0.0001)",
                 "eval_time": "30m",
                 "exp_samples": [{"labels": Quoted(f'{{job="{self.job}"}}', "'"),
                                  "value": rounded(1 - self.ratio_at(bad, total, window, 30)
                                                   / b)}]},
            ],
            "alert_rule_test": [
                self.alerts(2, [], f"Both conditions hold from 1m: the page is pending until "
                                   f"1m + {PAGE_FOR}m, the ticket until 1m + {TICKET_FOR}m."),
                self.alerts(1 + PAGE_FOR, [self.expected("page", fire)]),
                self.alerts(TICKET_FOR, [self.expected("page", fire)]),
                self.alerts(1 + TICKET_FOR, [self.expected("page", fire),
                                             self.expected("ticket", fire)]),
                self.alerts(100, [self.expected("ticket", three_days)],
                            "Good again since 60m: the fast windows clear and the page "
                            "resolves;\nthe slow windows still hold the spent budget, so the "
                            "ticket stays."),
                self.alerts(END, [], "Once the 6h window holds no failures, the ticket "
                                     "resolves too."),
            ],
        }
        cases: list[Any] = [Commented(fires, (
            f"{what}: {percent(fire)} of requests to {route.path} {self._fail()} for an hour "
            f"({number(ABOVE)} x the fast page's {number(fast)} x the {percent(b)} budget)."))]

        # The fast page alone: six hours of good traffic, then a burst of FAST_BURST minutes
        # whose 1h ratio ends just above (or below) the fast threshold, while the 6h ratio
        # stays far below the slow one. The 5m ratio is higher than the 1h: the page's value
        # is the 1h ratio.
        for factor, above in ((ABOVE, True), (BELOW, False)):
            burst = factor * fast * b * 60 / FAST_BURST
            bad = [(0.0, HISTORY), (burst * n, FAST_BURST)]
            total = [(float(n), HISTORY + FAST_BURST)]
            at = HISTORY + FAST_BURST
            expected = [self.expected("page", factor * fast * b)] if above else []
            expected.append(self.expected("ticket", self.ratio_at(bad, total, "3d", at)))
            cases.append(Commented(
                {"interval": "1m", "input_series": self.inputs(route, bad, total),
                 "alert_rule_test": [self.alerts(at, expected)]},
                f"The fast page alone, just {'above' if above else 'below'} {number(fast)} x: "
                f"{HISTORY // 60}h good, then {percent(burst)} for {FAST_BURST}m (1h: "
                f"{percent(factor * fast * b)}, 6h: {percent(burst * FAST_BURST / HISTORY)})"
                f"{'' if above else ': only the ticket'}.", blank=True))

        # The slow page alone (its ratio is far below the fast threshold), then the ticket
        # alone, each just above and just below its threshold.
        for factor, above in ((ABOVE, True), (BELOW, False)):
            ratio = factor * slow * b
            expected = [self.expected("page" if above else "ticket", ratio)]
            cases.append(Commented(
                {"interval": "1m", "input_series": self.inputs(route, *steady(ratio, 30)),
                 "alert_rule_test": [self.alerts(1 + TICKET_FOR if not above else
                                                 1 + PAGE_FOR, expected)]},
                f"The slow page alone, just {'above' if above else 'below'} {number(slow)} x "
                f"({percent(ratio)})" + ("." if above else ": only the ticket."), blank=True))
        for factor, above in ((ABOVE, True), (BELOW, False)):
            ratio = factor * ticket * b
            checks = [self.alerts(TICKET_FOR, []),
                      self.alerts(1 + TICKET_FOR, [self.expected("ticket", ratio)])] if above \
                else [self.alerts(25, [])]
            cases.append(Commented(
                {"interval": "1m", "input_series": self.inputs(route, *steady(ratio, 30)),
                 "alert_rule_test": checks},
                f"The ticket, just {'above' if above else 'below'} {number(ticket)} x "
                f"({percent(ratio)}){': pending, then firing' if above else ': nothing'}.",
                blank=True))

        # Every route of the SLO counts: each alone, failing, pages.
        for index, path in enumerate(self.ctx.routes(self.slo)):
            member = next(op for op in self.ctx.operations if op.path == path)
            case = {"interval": "1m", "input_series": self.inputs(member, *steady(fire, 5)),
                    "alert_rule_test": [self.alerts(1 + PAGE_FOR,
                                                    [self.expected("page", fire)])]}
            cases.append(Commented(case, f"Every route of the {self.slo} SLO counts: each "
                                         f"alone, {percent(fire)} failing, pages." if index == 0
                                   else "", blank=True))
        return cases + self._outside()

    def _fail(self) -> str:
        if self.slo == "availability":
            return "answer 5xx"
        return f"take over {self.ctx.spec.latency.threshold_text}"

    def _what(self) -> str:
        if self.slo == "availability":
            return "Availability"
        return "Latency"

    def _outside(self) -> list[Any]:
        """What does not count against the SLO."""
        route, n = self.route, float(PER_MINUTE)
        if self.slo == "availability":
            cases = [Commented({
                "interval": "1m",
                "input_series": [
                    series("http_requests_total", self.labels(route, status="200"), [(n, 90)]),
                    series("http_requests_total", self.labels(route, status="404"), [(n, 90)]),
                    series("http_requests_total",
                           self.labels(Route("GET", "__unmatched__", "", ()), status="404"),
                           [(n, 90)]),
                ],
                "alert_rule_test": [self.alerts(80, [])],
            }, "4xx are not failures of the service, and paths that match no route are in no "
               "SLO.", blank=True)]
            for probe in self.ctx.probes[-1:]:
                probe_route = Route("GET", probe, "operations", ())
                cases.append(Commented({
                    "interval": "1m",
                    "input_series": [
                        series("http_requests_total", self.labels(route, status="200"),
                               [(n, 90)]),
                        series("http_requests_total",
                               self.labels(probe_route, status="503"), [(n, 90)]),
                    ],
                    "alert_rule_test": [self.alerts(80, [])],
                }, f"Probes are outside the SLO: {probe} answering 503 (a drain, a database "
                   "outage) spends no budget.", blank=True))
            return cases
        try:
            other = self.ctx.example("availability", outside="latency")
        except LookupError:
            return []
        le = self.ctx.spec.latency.le
        return [Commented({
            "interval": "1m",
            "input_series": [
                series("http_request_duration_seconds_bucket", self.labels(route, le=le),
                       [(n, 90)]),
                series("http_request_duration_seconds_count", self.labels(route), [(n, 90)]),
                series("http_request_duration_seconds_bucket", self.labels(other, le=le),
                       [(0.0, 90)]),
                series("http_request_duration_seconds_count", self.labels(other), [(n, 90)]),
            ],
            "alert_rule_test": [self.alerts(80, [])],
        }, f"Slow requests to routes outside the latency SLO ({other.method} {other.path}) do "
           "not count at all.", blank=True)]


def _file(ctx: Context, name: str, tests: list[Any], about: str) -> str:
    header = f"{HEADER}\n\npromtool test rules alerts/tests/{name}\n{about}"
    return dump({"rule_files": ["../slo.yml", "../operations.yml"],
                 "evaluation_interval": "1m", "tests": tests}, header)


def slo_tests(ctx: Context) -> str:
    tests = SloCases(ctx, "availability").cases()
    latency = SloCases(ctx, "latency").cases()
    tests.append(Commented(latency[0].value, latency[0].comment, blank=True))
    tests += latency[1:]
    return _file(ctx, "slo_test.yml", tests,
                 "The burn-rate alerts of alerts/slo.yml: each fires, stays silent just below "
                 "its thresholds,\nand resolves; the recording rules are checked on the way.")


def _case(series_: list[dict[str, Any]], alerts: list[dict[str, Any]], comment: str,
          blank: bool = True) -> Commented:
    return Commented({"interval": "1m", "input_series": series_, "alert_rule_test": alerts},
                     comment, blank)


def _alert(at: str, name: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": alerts}


def operations_tests(ctx: Context) -> str:
    job, instance = ctx.spec.name, "a:8080"
    route = ctx.example("availability")

    def labels(**extra: str) -> dict[str, str]:
        return {"job": job, "instance": instance, **extra}

    def http(path: str, status: str) -> dict[str, str]:
        return labels(method="GET", route=path, status=status)

    def fired(severity: str, annotations: dict[str, str], **extra: str) -> dict[str, Any]:
        return {"exp_labels": Flow({"severity": severity, "job": job, **extra}),
                "exp_annotations": {k: Quoted(v) for k, v in annotations.items()}}

    tests: list[Any] = []
    if ctx.probes:
        probe, other = ctx.probes[0], ctx.probes[-1]
        tests.append(_case(
            [{"series": series("http_requests_total", http(probe, "500"), [])["series"],
              "values": Quoted("0 0 0 1 1 1 1 1 1 1 1 1 1 1 1", "'")},
             series("http_requests_total", http(other, "503"), [(5.0, 14)])],
            [_alert("2m", "HealthEndpointErrors", []),
             _alert("4m", "HealthEndpointErrors", [fired("page", {
                 "summary": f"{probe} answered 500 on {instance}",
                 "description": f"1 answer(s) of 500 from {probe} in 5 minutes. Probes must "
                                "answer 200 or 503, never 500: orchestrators restart or drain "
                                "on them.",
                 **links(ctx, "HealthEndpointErrors")},
                 instance=instance, route=probe)]),
             _alert("12m", "HealthEndpointErrors", [])],
            f"A 500 from {probe} at 3m fires at once, and resolves once 5 minutes pass without "
            "another.\n503s (the probes' designed \"not ok\") never fire.", blank=False))
    tests.append(_case(
        [{"series": Quoted(f'app_dependency_up{{job="{job}",instance="{instance}",'
                           'dependency="mongo"}', "'"),
          "values": Quoted("1 1 0 0 0 0 1 1 1 0 1 1", "'")}],
        [_alert("2m", "MongoUnreachable", []),
         _alert("4m", "MongoUnreachable", [fired("page", {
             "summary": f"{instance} cannot reach MongoDB",
             "description": f"The background ping to MongoDB has failed for over a minute on "
                            f"{instance}; requests that need the database answer 503.",
             **links(ctx, "MongoUnreachable")}, instance=instance)]),
         _alert("6m", "MongoUnreachable", []),
         _alert("10m", "MongoUnreachable", [])],
        "MongoDB down from 2m to 5m: pending at 2m, firing from 3m, resolved at 6m. A single "
        "failed\nping (at 9m) does not fire.", blank=bool(tests)))
    if ctx.has_auth:
        reused = labels(event="refresh_reused")
        tests.append(_case(
            [series("auth_events_total", reused, [(1.0, 20), (0.0, 20)])],
            [_alert("16m", "RefreshTokenReuseSpike", [fired("page", {
                "summary": "Refresh-token reuse is spiking",
                "description": "15 refresh tokens were presented again in 15 minutes (each "
                               "revoked a session family). Stolen tokens are being replayed, "
                               "or a client is broken.",
                **links(ctx, "RefreshTokenReuseSpike")})]),
             _alert("40m", "RefreshTokenReuseSpike", [])],
            "Refresh-token reuse: one a minute (15 in 15 minutes) fires; stopping resolves it."))
        tests.append(_case(
            [series("auth_events_total", reused, [(0.5, 30)])],
            [_alert("25m", "RefreshTokenReuseSpike", [])],
            "Just below: one every two minutes (7.5 in 15 minutes)."))
    herd = labels(scope="ip")
    tests.append(_case(
        [series("http_requests_total", http(route.path, "429"), [(120.0, 20)]),
         series("http_requests_total", http(route.path, "200"), [(60.0, 20)]),
         series("ratelimit_rejections_total", herd, [(120.0, 20)])],
        [_alert("4m", "RateLimitHerd", []),
         _alert("12m", "RateLimitHerd", [fired("ticket", {
             "summary": "Most requests are being rate limited",
             "description": "66.67% of answers are 429, refused per client address: one "
                            "address or range is hammering the API.",
             **links(ctx, "RateLimitHerd")})])],
        "Two thirds of the answers are 429 per address for over 5 minutes: a herd."))
    tests.append(_case(
        [series("http_requests_total", http(route.path, "429"), [(120.0, 20)]),
         series("http_requests_total", http(route.path, "200"), [(480.0, 20)]),
         series("ratelimit_rejections_total", herd, [(120.0, 20)])],
        [_alert("15m", "RateLimitHerd", [])],
        "Just below: one answer in five is 429."))
    tests.append(_case(
        [{"series": Quoted(f'up{{job="{job}",instance="a:8080"}}', "'"),
          "values": Quoted("1 1 0 0 0 1 1", "'")},
         {"series": Quoted(f'up{{job="{job}",instance="b:8080"}}', "'"),
          "values": Quoted("1 1 1 1 1 1 1", "'")}],
        [_alert("2m", "ApiInstanceDown", []),
         _alert("4m", "ApiInstanceDown", [fired("page", {
             "summary": "a:8080 is down",
             "description": "Prometheus has not been able to scrape a:8080 for over a minute.",
             **links(ctx, "ApiInstanceDown")}, instance="a:8080")]),
         _alert("5m", "ApiInstanceDown", [])],
        "An instance stops answering scrapes at 2m and comes back at 5m."))
    return _file(ctx, "operations_test.yml", tests,
                 "The operational alerts of alerts/operations.yml: each fires, stays silent "
                 "just below,\nand resolves.")


RENDERERS: dict[str, Callable[[Context], str]] = {"slo_test.yml": slo_tests,
                                                  "operations_test.yml": operations_tests}
