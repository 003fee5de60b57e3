"""The numbers of each phase, labelled with where they come from, so the runbooks can quote what
normal looked like.

- From the service's access lines (exact: every request, its own duration): requests, rate,
  share of 5xx, the two SLIs as the rules define them (routes from /openapi.json's `x-slos`,
  the latency threshold from service.yml), and p99 per route (nearest rank).
- From Prometheus (what the dashboards show): p99 per route and per Mongo command as
  `histogram_quantile(0.99, ...)` over the phase (bucket-interpolated estimates), and counter
  differences between the phase's edges (auth events, Mongo commands and failures, rate-limit
  refusals), aligned to scrapes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from app.identity import NAME
from tests.prometheus_server import Prometheus
from tests.service import REPO

JOB = f'job="{NAME}"'  # the job every rule and dashboard selects


@dataclass(frozen=True)
class Window:
    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def slo_routes(openapi: dict[str, Any]) -> dict[str, set[str]]:
    """{"availability": {"GET /content", ...}, "latency": {...}} from the document's x-slos."""
    routes: dict[str, set[str]] = {"availability": set(), "latency": set()}
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for slo in operation.get("x-slos", []):
                routes.setdefault(slo, set()).add(f"{method.upper()} {path}")
    return routes


def latency_threshold_ms() -> float:
    spec = yaml.safe_load((REPO / "service.yml").read_text())
    return float(spec["slos"]["latency"]["threshold_seconds"]) * 1000


def access_lines(log_text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in log_text.splitlines():
        if '"request.completed"' not in raw:
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        line["_at"] = datetime.fromisoformat(line["ts"].replace("Z", "+00:00")).timestamp()
        lines.append(line)
    return lines


def nearest_rank(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def _number(value: str) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


class Figures:
    def __init__(self, prometheus: Prometheus, openapi: dict[str, Any], log_text: str) -> None:
        self.prometheus = prometheus
        self.slos = slo_routes(openapi)
        self.threshold_ms = latency_threshold_ms()
        self.lines = access_lines(log_text)

    def _at(self, expr: str, ts: float) -> dict[str, float]:
        result = self.prometheus.api("query", query=expr, time=f"{ts:.3f}")["result"]
        return {",".join(f"{v}" for k, v in sorted(r["metric"].items())) or "all":
                float(r["value"][1]) for r in result}

    def _delta(self, expr: str, window: Window) -> dict[str, int]:
        before, after = self._at(expr, window.start), self._at(expr, window.end)
        return {key: round(value - before.get(key, 0.0)) for key, value in after.items()
                if round(value - before.get(key, 0.0))}

    def _quantiles(self, by: str, metric: str, window: Window) -> dict[str, float | None]:
        span = f"{max(1, round(window.seconds * 1000))}ms"
        expr = (f"histogram_quantile(0.99, sum by ({by}, le) "
                f"(increase({metric}{{{JOB}}}[{span}])))")
        result = self.prometheus.api("query", query=expr, time=f"{window.end:.3f}")["result"]
        return {" ".join(r["metric"].get(k, "") for k in by.split(", ")):
                _number(r["value"][1]) for r in result}

    def window(self, window: Window) -> dict[str, Any]:
        lines = [line for line in self.lines if window.start <= line["_at"] < window.end]
        by_route: dict[str, list[dict[str, Any]]] = {}
        for line in lines:
            by_route.setdefault(line.get("route") or "?", []).append(line)
        estimates = self._quantiles("method, route", "http_request_duration_seconds_bucket",
                                    window)
        routes = {}
        for route, answers in sorted(by_route.items(), key=lambda item: -len(item[1])):
            failed = sum(1 for a in answers if a["statusCode"] >= 500)
            estimate = estimates.get(route)
            routes[route] = {
                "requests": len(answers),
                "perSecond": round(len(answers) / window.seconds, 2),
                "errors5xxPercent": round(100 * failed / len(answers), 2),
                "p99MsExact": round(nearest_rank([a["durationMs"] for a in answers], 0.99), 1),
                "p99MsHistogram": None if estimate is None else round(estimate * 1000, 1),
            }
        available = [a for a in lines if a.get("route") in self.slos["availability"]]
        timed = [a for a in lines if a.get("route") in self.slos["latency"]]
        mongo_p99 = self._quantiles("command", "mongo_command_duration_seconds_bucket", window)
        return {
            "window": {"name": window.name, "start": window.start, "end": window.end,
                       "seconds": round(window.seconds, 1)},
            "requests": len(lines),
            "perSecond": round(len(lines) / window.seconds, 2),
            "errors5xxPercent": _percent(sum(1 for a in lines if a["statusCode"] >= 500),
                                         len(lines)),
            "availabilitySliErrorsPercent": _percent(
                sum(1 for a in available if a["statusCode"] >= 500), len(available)),
            "latencySliSlowPercent": _percent(
                sum(1 for a in timed if a["durationMs"] > self.threshold_ms), len(timed)),
            "routes": routes,
            "authEvents": self._delta(f"sum by (event) (auth_events_total{{{JOB}}})", window),
            "rateLimited": self._delta(
                f"sum by (scope) (ratelimit_rejections_total{{{JOB}}})", window),
            "mongoCommands": self._delta(
                f"sum by (command, outcome) (mongo_command_duration_seconds_count{{{JOB}}})",
                window),
            "mongoP99Ms": {command: None if value is None else round(value * 1000, 1)
                           for command, value in sorted(mongo_p99.items())},
        }


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 2)


def _fmt(value: Any, unit: str = "") -> str:
    return "—" if value is None else f"{value:g}{unit}"


def normal_markdown(figures: dict[str, Any], started: float) -> list[str]:
    """The warm-up phase, in full: the figures the runbooks quote."""
    from demo.timeline import utc

    w = figures["window"]
    auth = figures["authEvents"]
    lines = [
        f"Warm-up window: {utc(w['start'])} to {utc(w['end'])} UTC ({w['seconds']:g} s), "
        "normal traffic, no fault.", "",
        f"- Requests: **{figures['requests']}** ({figures['perSecond']:g}/s), "
        f"5xx: **{_fmt(figures['errors5xxPercent'], ' %')}**; availability SLI errors "
        f"{_fmt(figures['availabilitySliErrorsPercent'], ' %')}, latency SLI over the threshold "
        f"{_fmt(figures['latencySliSlowPercent'], ' %')} (access lines, exact).",
        f"- Refresh-token reuse: **{auth.get('refresh_reused', 0)}** "
        f"(from {auth.get('refresh_rotated', 0)} rotations; each reuse is one of the tab races "
        f"the traffic plays about once a minute); logins {auth.get('login_success', 0)} ok, "
        f"{auth.get('login_failure', 0)} failed (auth_events_total, counter differences).",
        "- Mongo command p99 (histogram estimate): " + ", ".join(
            f"{command or '?'} {_fmt(value, ' ms')}"
            for command, value in figures["mongoP99Ms"].items() if value is not None) + ".",
        "",
        "| route | requests | per s | 5xx % | p99 ms (exact, access lines) | "
        "p99 ms (Prometheus histogram) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for route, r in figures["routes"].items():
        lines.append(f"| `{route}` | {r['requests']} | {r['perSecond']:g} | "
                     f"{r['errors5xxPercent']:g} | {_fmt(r['p99MsExact'])} | "
                     f"{_fmt(r['p99MsHistogram'])} |")
    return lines


def phases_markdown(all_figures: list[dict[str, Any]]) -> list[str]:
    """Each phase side by side: how the incident moved the same numbers."""
    lines = ["| phase | seconds | req/s | 5xx % | availability SLI errors % | "
             "latency SLI > threshold % | p99 `GET /content` ms (exact) | Mongo `find` p99 ms | "
             "Mongo failed commands | refresh reuse |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in all_figures:
        content = f["routes"].get("GET /content", {})
        failed = sum(n for key, n in f["mongoCommands"].items() if key.endswith(",error"))
        lines.append(
            f"| {f['window']['name']} | {f['window']['seconds']:g} | {f['perSecond']:g} | "
            f"{_fmt(f['errors5xxPercent'])} | {_fmt(f['availabilitySliErrorsPercent'])} | "
            f"{_fmt(f['latencySliSlowPercent'])} | {_fmt(content.get('p99MsExact'))} | "
            f"{_fmt(f['mongoP99Ms'].get('find'))} | {failed} | "
            f"{f['authEvents'].get('refresh_reused', 0)} |")
    return lines


def write(out: Path, all_figures: list[dict[str, Any]]) -> None:
    (out / "figures.json").write_text(json.dumps(all_figures, indent=1))
