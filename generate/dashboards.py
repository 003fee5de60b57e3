"""Grafana dashboards as code: dashboards/*.json, from service.yml and the route table.

Plain dictionaries in Grafana's dashboard JSON model, through three small helpers, so each
dashboard reads as a list of panels with their PromQL. The JSON is committed (Grafana
provisioning reads it from dashboards/); titles, uids and tags carry the service's name, and
the SLO panels its objectives and the routes that declare each SLO.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from generate.alerts import budget_remaining, error_ratio, slow_ratio
from generate.spec import PAGE_FAST, PAGE_SLOW, SLI_WINDOWS, Context, dashboard_uid, number

SCHEMA_VERSION = 39
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def target(expr: str, legend: str = "", ref: str = "A", *, exemplar: bool = False
           ) -> dict[str, Any]:
    """One query. `exemplar`: also fetch the trace_id exemplars of the series it reads, drawn as
    dots that open the trace (the data source's exemplarTraceIdDestinations): for latency
    quantiles, where a dot is one slow request."""
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto",
            "refId": ref, **({"exemplar": True} if exemplar else {})}


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


def uid(ctx: Context, suffix: str) -> str:
    """`<name>-<suffix>` within Grafana's 40 characters; alerts link to it (dashboard_url)."""
    return dashboard_uid(ctx.spec.name, suffix)


def dashboard(ctx: Context, suffix: str, title: str, description: str,
              panels: list[dict[str, Any]]) -> dict[str, Any]:
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
        "uid": uid(ctx, suffix),
        "title": f"{ctx.spec.name} / {title}",
        "description": description,
        "tags": [ctx.spec.name],
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


def overview(ctx: Context) -> dict[str, Any]:
    job = ctx.spec.job
    return dashboard(ctx, "overview", "API overview", "Rate, errors and duration per route.", [
        panel("Requests per second by route", [target(
            f"sum by (route) (rate(http_requests_total{{{job}}}[{RATE}]))", "{{route}}")],
            unit="reqps"),
        panel("5xx ratio by route", [target(
            f'sum by (route) (rate(http_requests_total{{{job},status=~"5.."}}[{RATE}])) '
            f"/ sum by (route) (rate(http_requests_total{{{job}}}[{RATE}]))", "{{route}}")],
            unit="percentunit"),
        panel("Latency p50 / p90 / p99 (all routes)", [
            target(f"histogram_quantile({q}, sum by (le) (rate("
                   f"http_request_duration_seconds_bucket{{{job}}}[{RATE}])))", f"p{int(q*100)}",
                   exemplar=q == 0.99)  # once: the three read the same buckets
            for q in (0.5, 0.9, 0.99)], unit="s"),
        panel("Latency p99 by route", [target(
            "histogram_quantile(0.99, sum by (route, le) (rate("
            f"http_request_duration_seconds_bucket{{{job}}}[{RATE}])))", "{{route}}",
            exemplar=True)], unit="s"),
        panel("Status mix", [target(
            f"sum by (status) (rate(http_requests_total{{{job}}}[{RATE}]))", "{{status}}")],
            unit="reqps"),
        panel("In-flight requests", [target(
            f"sum by (instance) (http_requests_in_flight{{{job}}})", "{{instance}}")]),
    ])


def slo(ctx: Context) -> dict[str, Any]:
    spec = ctx.spec
    job, window, days = spec.job, spec.window, spec.window_days
    availability, latency = spec.availability, spec.latency
    under = f"under {latency.threshold_text}"
    burn = [(w, w) for w in SLI_WINDOWS]
    pages = " and ".join(number(spec.burn_rate(share, long)) for share, long, _ in
                         (PAGE_FAST, PAGE_SLOW))
    routes = f"{job},{ctx.selector('latency')}"
    return dashboard(ctx, "slo", "SLOs",
                     f"Availability {number(availability.objective)}% and latency "
                     f"{number(latency.objective)}% {under}, over {days}.", [
        panel(f"Availability SLI ({days}), objective {number(availability.objective)}%", [
            target(f"1 - {error_ratio(window)}", "availability")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("green", availability.target)]),
        panel(f"Availability budget left ({days})", [target(
            budget_remaining(ctx, "availability"), "budget left")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("orange", 0.25), ("green", 0.5)]),
        panel(f"Latency SLI ({days}), objective {number(latency.objective)}% {under}", [
            target(f"1 - {slow_ratio(ctx, window)}", under)],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("green", latency.target)]),
        panel(f"Latency budget left ({days})", [target(
            budget_remaining(ctx, "latency"), "budget left")],
            kind="stat", unit="percentunit", width=6,
            thresholds=[("red", None), ("orange", 0.25), ("green", 0.5)]),
        panel(f"Availability burn rate per window (1 = on budget; page at {pages})", [
            target(f"{error_ratio(w)} / {number(availability.budget)}", legend)
            for w, legend in burn]),
        panel(f"Latency burn rate per window (1 = on budget; page at {pages})", [
            target(f"{slow_ratio(ctx, w)} / {number(latency.budget)}", legend)
            for w, legend in burn]),
        panel(f"Share of requests {under}, per SLO route", [target(
            "sum by (route) (rate(http_request_duration_seconds_bucket"
            f'{{{routes},le="{latency.le}"}}[{RATE}])) / sum by (route) '
            f"(rate(http_request_duration_seconds_count{{{routes}}}[{RATE}]))",
            "{{route}}")], unit="percentunit"),
        panel(f"p99 latency of each latency-SLO route (threshold {latency.threshold_text})", [
            target("histogram_quantile(0.99, sum by (route, le) (rate("
                   f"http_request_duration_seconds_bucket{{{routes}}}[{RATE}])))", "{{route}}",
                   exemplar=True)], unit="s",
            thresholds=[("green", None), ("red", latency.threshold_seconds)]),
    ])


def mongodb(ctx: Context) -> dict[str, Any]:
    job = ctx.spec.job
    return dashboard(ctx, "mongodb", "MongoDB",
                     "Command latency and errors as the service sees them.", [
        panel("MongoDB reachable (per instance)", [target(
            f'app_dependency_up{{{job},dependency="mongo"}}', "{{instance}}")],
            kind="stat", width=6, thresholds=[("red", None), ("green", 1)]),
        panel("Commands per second by command", [target(
            "sum by (command) (rate(mongo_command_duration_seconds_count"
            f"{{{job}}}[{RATE}]))", "{{command}}")], unit="ops", width=18),
        panel("Command latency p99 by command", [target(
            "histogram_quantile(0.99, sum by (command, le) (rate("
            f"mongo_command_duration_seconds_bucket{{{job}}}[{RATE}])))", "{{command}}")],
            unit="s"),
        # Per second, not per hour: an outage shows when it starts and ends. The error samples
        # include operations that never reached a server (and the background ping's), so a
        # database that is down shows here, traffic or not.
        panel("Failed commands by command", [target(
            "sum by (command) (rate(mongo_command_duration_seconds_count"
            f'{{{job},outcome="error"}}[{RATE}]))', "{{command}}")], unit="ops",
            description="Commands that failed, those that never reached a server (no server "
                        "selected, connection refused, name not resolved) included, under the "
                        "command they would have sent."),
    ])


def security(ctx: Context) -> dict[str, Any]:
    job = ctx.spec.job
    auth = [
        panel("Auth events per second", [target(
            f"sum by (event) (rate(auth_events_total{{{job}}}[{RATE}]))", "{{event}}")],
            unit="ops"),
        panel("Refresh-token reuse (last hour)", [target(
            f'sum(increase(auth_events_total{{{job},event="refresh_reused"}}[1h]))',
            "reused")], kind="stat", width=6,
            thresholds=[("green", None), ("red", 1)]),
        panel("Login failure ratio", [target(
            f'sum(rate(auth_events_total{{{job},event="login_failure"}}[{RATE}])) / '
            f'sum(rate(auth_events_total{{{job},event=~"login_.*"}}[{RATE}]))', "failures")],
            unit="percentunit", width=6),
    ] if ctx.has_auth else []
    return dashboard(ctx, "security", "Security",
                     ("Authentication events, refresh-token reuse, rate limiting."
                      if ctx.has_auth else "Rate limiting."), [
        *auth,
        panel("Rate-limit refusals per second by scope", [target(
            f"sum by (scope) (rate(ratelimit_rejections_total{{{job}}}[{RATE}]))",
            "{{scope}}")], unit="reqps"),
        panel("Share of answers that are 429", [target(
            f'sum(rate(http_requests_total{{{job},status="429"}}[{RATE}])) / '
            f"sum(rate(http_requests_total{{{job}}}[{RATE}]))", "429")], unit="percentunit"),
    ])


DASHBOARDS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "api-overview": overview, "slo": slo, "mongodb": mongodb, "security": security}


def renderer(build: Callable[[Context], dict[str, Any]]) -> Callable[[Context], str]:
    def render(ctx: Context) -> str:
        return json.dumps(build(ctx), indent=2) + "\n"

    render.__name__ = f"render_{build.__name__}"
    return render


RENDERERS = {f"{name}.json": renderer(build) for name, build in DASHBOARDS.items()}
