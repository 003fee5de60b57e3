"""Grafana dashboards as code: `python dashboards/generate.py` writes dashboards/*.json.

Plain dictionaries in Grafana's dashboard JSON model, through three small helpers, so each
dashboard reads as a list of panels with their PromQL. The generated JSON is committed (Grafana
provisioning reads it) and a test keeps it in sync with this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 39
JOB = 'job="catalog-api"'
SLO_ROUTES = 'route=~"/catalog|/meta|/content|/content/\\\\{id\\\\}"'
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto",
            "refId": ref}


def panel(title: str, targets: list[dict[str, Any]], *, unit: str = "short", kind: str =
          "timeseries", width: int = 12, height: int = 8, description: str = "",
          thresholds: list[tuple[str, float | None]] | None = None) -> dict[str, Any]:
    for index, item in enumerate(targets):
        item["refId"] = chr(ord("A") + index)
    steps = [{"color": color, "value": value} for color, value in
             (thresholds or [("green", None)])]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute",
                                                                  "steps": steps}},
                        "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
        if kind == "timeseries" else {"reduceOptions": {"calcs": ["lastNotNull"]}},
        "gridPos": {"w": width, "h": height},
    }


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]]
              ) -> dict[str, Any]:
    x = y = row_height = 0
    for index, item in enumerate(panels, start=1):
        grid = item["gridPos"]
        if x + grid["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        item["id"] = index
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["catalog-api"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "templating": {"list": [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0,
        }]},
        "annotations": {"list": []},
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    return dashboard("catalog-api-overview", "catalog-api / API overview",
                     "Rate, errors and duration per route.", [
        panel("Requests per second by route", [target(
            f"sum by (route) (rate(http_requests_total{{{JOB}}}[{RATE}]))", "{{route}}")],
            unit="reqps"),
        panel("5xx ratio by route", [target(
            f'sum by (route) (rate(http_requests_total{{{JOB},status=~"5.."}}[{RATE}])) '
            f"/ sum by (route) (rate(http_requests_total{{{JOB}}}[{RATE}]))", "{{route}}")],
            unit="percentunit"),
        panel("Latency p50 / p90 / p99 (all routes)", [
            target(f"histogram_quantile({q}, sum by (le) (rate("
                   f"http_request_duration_seconds_bucket{{{JOB}}}[{RATE}])))", f"p{int(q*100)}")
            for q in (0.5, 0.9, 0.99)], unit="s"),
        panel("Latency p99 by route", [target(
            "histogram_quantile(0.99, sum by (route, le) (rate("
            f"http_request_duration_seconds_bucket{{{JOB}}}[{RATE}])))", "{{route}}")],
            unit="s"),
        panel("Status mix", [target(
            f"sum by (status) (rate(http_requests_total{{{JOB}}}[{RATE}]))", "{{status}}")],
            unit="reqps"),
        panel("In-flight requests", [target(
            f"sum by (instance) (http_requests_in_flight{{{JOB}}})", "{{instance}}")]),
    ])


def slo() -> dict[str, Any]:
    burn = [("5m", "5m"), ("30m", "30m"), ("1h", "1h"), ("6h", "6h"), ("3d", "3d")]
    return dashboard("catalog-api-slo", "catalog-api / SLOs",
                     "Availability 99.5% and latency 99% under 300 ms, over 30 days.", [
        panel("Availability SLI (30 days), objective 99.5%", [target(
            "1 - job:slo_errors_per_request:ratio_rate30d", "availability")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("green", 0.995)]),
        panel("Availability budget left (30 days)", [target(
            "job:slo_availability_error_budget:remaining30d", "budget left")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("orange", 0.25), ("green", 0.5)]),
        panel("Latency SLI (30 days), objective 99% under 300 ms", [target(
            "1 - job:slo_requests_slower_than_300ms:ratio_rate30d", "under 300 ms")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("green", 0.99)]),
        panel("Latency budget left (30 days)", [target(
            "job:slo_latency_error_budget:remaining30d", "budget left")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("orange", 0.25), ("green", 0.5)]),
        panel("Availability burn rate per window (1 = on budget; page at 14.4 and 6)", [
            target(f"job:slo_errors_per_request:ratio_rate{window} / 0.005", legend)
            for window, legend in burn]),
        panel("Latency burn rate per window (1 = on budget; page at 14.4 and 6)", [
            target(f"job:slo_requests_slower_than_300ms:ratio_rate{window} / 0.01", legend)
            for window, legend in burn]),
        panel("Share of requests under 300 ms, per SLO route", [target(
            "sum by (route) (rate(http_request_duration_seconds_bucket"
            f'{{{JOB},{SLO_ROUTES},le="0.3"}}[{RATE}])) / sum by (route) '
            f"(rate(http_request_duration_seconds_count{{{JOB},{SLO_ROUTES}}}[{RATE}]))",
            "{{route}}")], unit="percentunit", width=24),
    ])


def mongodb() -> dict[str, Any]:
    return dashboard("catalog-api-mongodb", "catalog-api / MongoDB",
                     "Command latency and errors as the service sees them.", [
        panel("MongoDB reachable (per instance)", [target(
            f'app_dependency_up{{{JOB},dependency="mongo"}}', "{{instance}}")],
            kind="stat", width=6, thresholds=[("red", None), ("green", 1)]),
        panel("Commands per second by command", [target(
            "sum by (command) (rate(mongo_command_duration_seconds_count"
            f"{{{JOB}}}[{RATE}]))", "{{command}}")], unit="ops", width=18),
        panel("Command latency p99 by command", [target(
            "histogram_quantile(0.99, sum by (command, le) (rate("
            f"mongo_command_duration_seconds_bucket{{{JOB}}}[{RATE}])))", "{{command}}")],
            unit="s"),
        panel("Failed commands by command", [target(
            "sum by (command) (increase(mongo_command_duration_seconds_count"
            f'{{{JOB},outcome="error"}}[1h]))', "{{command}}")]),
    ])


def security() -> dict[str, Any]:
    return dashboard("catalog-api-security", "catalog-api / Security",
                     "Authentication events, refresh-token reuse, rate limiting.", [
        panel("Auth events per second", [target(
            f"sum by (event) (rate(auth_events_total{{{JOB}}}[{RATE}]))", "{{event}}")],
            unit="ops"),
        panel("Refresh-token reuse (last hour)", [target(
            f'sum(increase(auth_events_total{{{JOB},event="refresh_reused"}}[1h]))',
            "reused")], kind="stat", width=6,
            thresholds=[("green", None), ("red", 1)]),
        panel("Login failure ratio", [target(
            f'sum(rate(auth_events_total{{{JOB},event="login_failure"}}[{RATE}])) / '
            f'sum(rate(auth_events_total{{{JOB},event=~"login_.*"}}[{RATE}]))', "failures")],
            unit="percentunit", width=6),
        panel("Rate-limit refusals per second by scope", [target(
            f"sum by (scope) (rate(ratelimit_rejections_total{{{JOB}}}[{RATE}]))",
            "{{scope}}")], unit="reqps"),
        panel("Share of answers that are 429", [target(
            f'sum(rate(http_requests_total{{{JOB},status="429"}}[{RATE}])) / '
            f"sum(rate(http_requests_total{{{JOB}}}[{RATE}]))", "429")], unit="percentunit"),
    ])


DASHBOARDS = {"api-overview": overview, "slo": slo, "mongodb": mongodb, "security": security}


def render() -> dict[str, str]:
    return {f"{name}.json": json.dumps(build(), indent=2) + "\n"
            for name, build in DASHBOARDS.items()}


if __name__ == "__main__":
    for filename, text in render().items():
        (HERE / filename).write_text(text)
        print(f"wrote dashboards/{filename}")
