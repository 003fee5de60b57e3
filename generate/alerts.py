"""alerts/slo.yml and alerts/operations.yml: the SLIs as recording rules, the burn-rate alerts
that read them, and the operational alerts, from service.yml and the route table."""

from __future__ import annotations

from typing import Any

from generate.spec import (
    HEADER,
    PAGE_FAST,
    PAGE_SLOW,
    SLI_WINDOWS,
    TICKET,
    Context,
    number,
    promql_string,
    regex_escape,
)
from generate.yamltext import Commented, Quoted, dump

VALUE = "{{ $value | humanizePercentage }}"
PAGE_FOR, TICKET_FOR = "2m", "15m"  # the burn-rate alerts' `for:`
# Each alert's section of docs/runbooks.md (its heading's anchor) and the generated dashboard
# that shows it (the uid's suffix, generate/dashboards.py): the two links every alert carries.
LINKS = {
    "ApiAvailabilityBudgetBurn": ("api-is-returning-5xx", "slo"),
    "ApiLatencyBudgetBurn": ("api-is-slow", "slo"),
    "HealthEndpointErrors": ("health-endpoint-errors", "overview"),
    "MongoUnreachable": ("mongo-unreachable", "mongodb"),
    "RefreshTokenReuseSpike": ("refresh-token-compromise-suspected", "security"),
    "RateLimitHerd": ("rate-limit-thundering-herd", "security"),
    "ApiInstanceDown": ("api-instance-down", "overview"),
}


def links(ctx: Context, alert: str) -> dict[str, str]:
    """`runbook_url` and `dashboard_url`, absolute, from service.yml's `links`."""
    anchor, dashboard = LINKS[alert]
    return {"runbook_url": ctx.spec.links.runbook(anchor),
            "dashboard_url": ctx.spec.dashboard_url(dashboard)}


def windows(ctx: Context) -> list[str]:
    return [*SLI_WINDOWS, ctx.spec.window]


def error_ratio(window: str) -> str:
    return f"job:slo_errors_per_request:ratio_rate{window}"


def slow_ratio(ctx: Context, window: str) -> str:
    return f"job:slo_requests_slower_than_{ctx.spec.latency.threshold_name}:ratio_rate{window}"


def budget_remaining(ctx: Context, slo: str) -> str:
    return f"job:slo_{slo}_error_budget:remaining{ctx.spec.window}"


def availability_sli(ctx: Context, window: str, *, by: str = "sum by (job)") -> str:
    labels = f"{ctx.spec.job},{ctx.selector('availability')}"
    return (f'{by} (rate(http_requests_total{{{labels},status=~"5.."}}[{window}]))\n'
            f"/ {by} (rate(http_requests_total{{{labels}}}[{window}]))\n")


def latency_sli(ctx: Context, window: str, *, by: str = "sum by (job)") -> str:
    labels = f"{ctx.spec.job},{ctx.selector('latency')}"
    le = ctx.spec.latency.le
    return (f"1 - {by} (rate(http_request_duration_seconds_bucket"
            f'{{{labels},le="{le}"}}[{window}]))\n'
            f"/ {by} (rate(http_request_duration_seconds_count{{{labels}}}[{window}]))\n")


def _threshold(rate: float, budget: float) -> str:
    return f"{number(budget)}" if rate == 1 else f"({number(rate)} * {number(budget)})"


def page_expr(ctx: Context, ratio, budget: float) -> str:
    parts = []
    for share, long, short in (PAGE_FAST, PAGE_SLOW):
        threshold = _threshold(ctx.spec.burn_rate(share, long), budget)
        parts.append(f"  {ratio(long)} > {threshold}\n  and {ratio(short)} > {threshold}\n")
    return "(\n" + ") or (\n".join(parts) + ")\n"


def ticket_expr(ctx: Context, ratio, budget: float) -> str:
    share, long, short = TICKET
    threshold = _threshold(ctx.spec.burn_rate(share, long), budget)
    return f"{ratio(long)} > {threshold}\nand {ratio(short)} > {threshold}\n"


# The annotations, shared with the generated promtool tests (which expect them filled in).
def availability_annotations(ctx: Context, severity: str) -> dict[str, str]:
    spec = ctx.spec
    at_most = f"(SLO: at most {number(spec.availability.budget * 100)}%)"
    if severity == "page":
        return {
            "summary": f"{spec.name} is burning its availability budget fast",
            "description": f"{VALUE} of requests answer 5xx {at_most}. At this rate the "
                           f"{spec.window_text} budget is gone in days.",
            **links(ctx, "ApiAvailabilityBudgetBurn"),
        }
    return {
        "summary": f"{spec.name} is spending its availability budget faster than it earns it",
        "description": f"{VALUE} of requests answered 5xx over {TICKET[1][:-1]} days {at_most}.",
        **links(ctx, "ApiAvailabilityBudgetBurn"),
    }


def routes_text(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else ", ".join(paths[:-1]) + " and " + paths[-1]


def latency_annotations(ctx: Context, severity: str) -> dict[str, str]:
    spec = ctx.spec
    at_most = f"(SLO: at most {number(spec.latency.budget * 100)}%)"
    over = f"over {spec.latency.threshold_text}"
    if severity == "page":
        return {
            "summary": f"{spec.name} is too slow: the latency budget burns fast",
            "description": f"{VALUE} of requests to {routes_text(ctx.routes('latency'))} take "
                           f"{over} {at_most}.",
            **links(ctx, "ApiLatencyBudgetBurn"),
        }
    return {
        "summary": f"{spec.name} is slower than its SLO allows over days",
        "description": f"{VALUE} of SLO requests took {over} over {TICKET[1][:-1]} days "
                       f"{at_most}.",
        **links(ctx, "ApiLatencyBudgetBurn"),
    }


def _quoted(annotations: dict[str, str]) -> dict[str, Quoted]:
    return {key: Quoted(value) for key, value in annotations.items()}


def _alert(name: str, expr: str, duration: str, severity: str,
           annotations: dict[str, str]) -> dict[str, Any]:
    return {"alert": name, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": _quoted(annotations)}


def _group(ctx: Context, name: str, slo: str, alert: str, sli, ratio, objective,
           annotations) -> dict[str, Any]:
    rules: list[Any] = [{"record": ratio(window), "expr": sli(ctx, window)}
                        for window in windows(ctx)]
    budget = objective.budget
    rules.append(Commented(
        {"record": budget_remaining(ctx, slo),
         "expr": f"1 - {ratio(ctx.spec.window)} / (1 - {number(objective.target)})"},
        f"1 = the whole {ctx.spec.window_text} budget ({number(budget * 100)}% of requests) is "
        "left; 0 = spent; negative = overspent."))
    rules.append(_alert(alert, page_expr(ctx, ratio, budget), PAGE_FOR, "page",
                        annotations(ctx, "page")))
    rules.append(_alert(alert, ticket_expr(ctx, ratio, budget), TICKET_FOR, "ticket",
                        annotations(ctx, "ticket")))
    return {"name": name, "rules": rules}


def _shares() -> str:
    return ", ".join(f"{number(share * 100)}% of the budget in {long}"
                     for share, long, _ in (PAGE_FAST, PAGE_SLOW, TICKET))


def slo_header(ctx: Context) -> str:
    """Paragraphs (one line each; the writer wraps them) that say what the file encodes."""
    spec = ctx.spec
    fast, slow, ticket = (number(spec.burn_rate(share, long)) for share, long, _ in
                          (PAGE_FAST, PAGE_SLOW, TICKET))
    availability, latency = spec.availability.objective, spec.latency.objective
    threshold = number(spec.latency.threshold_seconds)
    probes = ", ".join(ctx.probes) or "none"
    return "\n".join([
        HEADER,
        "",
        "The SLOs as code: SLI recording rules over every window the alerts and dashboards "
        "need, and the burn-rate alerts that read them, in the same group so that each "
        "evaluation sees the SLIs it just computed. Aggregated `by (job)`: one SLI for the "
        "service, however many instances.",
        "",
        f"Availability SLO: {number(availability)}% of requests are not 5xx "
        f"({spec.window_days}).",
        f"Latency SLO: {number(latency)}% of requests finish within {threshold} s "
        f"({spec.window_days}).",
        "",
        "Each route says which SLOs its requests count toward (`slos=` where it is registered, "
        "beside its OpenAPI metadata; `x-slos` in /openapi.json). A route is in the "
        f"availability SLO unless it says otherwise. The probes ({probes}) are in neither: "
        "their 503s are designed answers (a drain, a database outage), their traffic is the "
        "orchestrator's, and HealthEndpointErrors watches their 500s. /metrics is not "
        "measured, and requests that match no route (`__unmatched__`: scanners' 404s) are in "
        "neither SLO.",
        f"  availability: {', '.join(ctx.routes('availability'))}",
        f"  latency: {', '.join(ctx.routes('latency'))}",
        "",
        "Burn rates follow the SRE workbook's multi-window, multi-burn-rate recipe over the "
        f"{spec.window_text} window: page when the budget burns at {fast}x (1h and 5m "
        f"windows) or {slow}x (6h and 30m); open a ticket at {ticket}x (3d and 6h). That is "
        f"{_shares()}. Every alert links its runbook section (runbook_url) and the dashboard "
        "that shows it (dashboard_url), both absolute, from service.yml's links.",
    ])


def slo(ctx: Context) -> str:
    spec = ctx.spec
    groups = [
        _group(ctx, "slo-availability", "availability", "ApiAvailabilityBudgetBurn",
               availability_sli, error_ratio, spec.availability, availability_annotations),
        Commented(_group(ctx, "slo-latency", "latency", "ApiLatencyBudgetBurn", latency_sli,
                         lambda window: slow_ratio(ctx, window), spec.latency,
                         latency_annotations), blank=True),
    ]
    return dump({"groups": groups}, slo_header(ctx))


def operations_rules(ctx: Context) -> list[Any]:
    job = ctx.spec.job
    rules: list[Any] = []
    if ctx.probes:
        probes = "route=~" + promql_string("|".join(regex_escape(p) for p in ctx.probes))
        rules.append({
            "alert": "HealthEndpointErrors",
            "expr": f"sum by (job, instance, route) (increase(http_requests_total{{{job},"
                    f'{probes},status="500"}}[5m])) > 0',
            "labels": {"severity": "page"},
            "annotations": {
                "summary": Quoted("{{ $labels.route }} answered 500 on {{ $labels.instance }}"),
                "description": Quoted("{{ $value | humanize }} answer(s) of 500 from "
                                      "{{ $labels.route }} in 5 minutes. Probes must answer 200 "
                                      "or 503, never 500: orchestrators restart or drain on "
                                      "them."),
                **_quoted(links(ctx, "HealthEndpointErrors")),
            },
        })
    rules.append({
        "alert": "MongoUnreachable",
        "expr": f'max by (job, instance) (app_dependency_up{{{job},dependency="mongo"}}) == 0',
        "for": "1m",
        "labels": {"severity": "page"},
        "annotations": {
            "summary": Quoted("{{ $labels.instance }} cannot reach MongoDB"),
            "description": Quoted("The background ping to MongoDB has failed for over a minute "
                                  "on {{ $labels.instance }}; requests that need the database "
                                  "answer 503."),
            **_quoted(links(ctx, "MongoUnreachable")),
        },
    })
    if ctx.has_auth:
        rules.append({
            "alert": "RefreshTokenReuseSpike",
            "expr": f"sum by (job) (increase(auth_events_total{{{job},"
                    'event="refresh_reused"}[15m])) > 10',
            "labels": {"severity": "page"},
            "annotations": {
                "summary": Quoted("Refresh-token reuse is spiking"),
                "description": Quoted("{{ $value | humanize }} refresh tokens were presented "
                                      "again in 15 minutes (each revoked a session family). "
                                      "Stolen tokens are being replayed, or a client is "
                                      "broken."),
                **_quoted(links(ctx, "RefreshTokenReuseSpike")),
            },
        })
    rules.append(Commented({
        "alert": "RateLimitHerd",
        "expr": f"""(
  sum by (job) (rate(http_requests_total{{{job},status="429"}}[5m]))
  / sum by (job) (rate(http_requests_total{{{job}}}[5m]))
) > 0.25
and sum by (job) (rate(ratelimit_rejections_total{{{job},scope="ip"}}[5m])) > 1
""",
        "for": "5m",
        "labels": {"severity": "ticket"},
        "annotations": {
            "summary": Quoted("Most requests are being rate limited"),
            "description": Quoted("{{ $value | humanizePercentage }} of answers are 429, "
                                  "refused per client address: one address or range is "
                                  "hammering the API."),
            **_quoted(links(ctx, "RateLimitHerd")),
        },
    }, "The metrics know the scope of each refusal, not the address: when most answers are 429\n"
       "and the refusals are per address, a few addresses dominate. The logs name them."))
    rules.append({
        "alert": "ApiInstanceDown",
        "expr": f"up{{{job}}} == 0",
        "for": "1m",
        "labels": {"severity": "page"},
        "annotations": {
            "summary": Quoted("{{ $labels.instance }} is down"),
            "description": Quoted("Prometheus has not been able to scrape "
                                  "{{ $labels.instance }} for over a minute."),
            **_quoted(links(ctx, "ApiInstanceDown")),
        },
    })
    # A blank line between alerts, as a reader scans them.
    return [rule if index == 0 else
            Commented(rule.value, rule.comment, blank=True) if isinstance(rule, Commented) else
            Commented(rule, blank=True) for index, rule in enumerate(rules)]


def operations(ctx: Context) -> str:
    auth = ("RefreshTokenReuseSpike watches the refresh tokens"
            if ctx.has_auth else "this variant has no auth routes, so no "
            "RefreshTokenReuseSpike")
    header = (f"{HEADER}\n\nOperational alerts for {ctx.spec.name}: probes, the database, "
              f"security signals, instances\n({auth}).")
    return dump({"groups": [{"name": "operations", "rules": operations_rules(ctx)}]}, header)
