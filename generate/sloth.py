"""slo/sloth.yml: the same two SLOs in Sloth's `prometheus/v1` spec, for teams that run Sloth
(or Pyrra, which reads the same SLIs) instead of alerts/slo.yml. Same SLIs (the routes that
declare each SLO), objectives, alert names and severities; Sloth derives its own recording rules
(`slo:sli_error:ratio_rate*`) and burn-rate windows from its SLO period."""

from __future__ import annotations

from generate import alerts
from generate.spec import HEADER, Context, number
from generate.yamltext import Quoted, dump

WINDOW = "{{.window}}"


def _alerting(name: str, annotations, ctx: Context, category: str) -> dict:
    """Sloth's page and ticket alerts, each with its own summary; the description is the page's
    first sentence (Sloth's windows are its own, so it names none)."""
    page, ticket = annotations(ctx, "page"), annotations(ctx, "ticket")
    description = page["description"].split(". ")[0].rstrip(".") + "."

    def alert(severity: str, summary: str) -> dict:
        return {"labels": {"severity": severity},
                "annotations": {"summary": Quoted(summary), "description": Quoted(description)}}

    return {
        "name": name,
        "labels": {"category": category},
        "annotations": {"runbook_url": Quoted(page["runbook_url"]),
                        "dashboard_url": Quoted(page["dashboard_url"])},
        "page_alert": alert("page", page["summary"]),
        "ticket_alert": alert("ticket", ticket["summary"]),
    }


def spec(ctx: Context) -> str:
    service = ctx.spec
    job = service.job
    availability = f"{job},{ctx.selector('availability')}"
    latency = f"{job},{ctx.selector('latency')}"
    le = service.latency.le
    slos = [
        {
            "name": "requests-availability",
            "objective": service.availability.objective,
            "description": Quoted(f"{number(service.availability.objective)}% of requests to "
                                  "the routes in the availability SLO do not answer 5xx."),
            "sli": {"events": {
                "error_query": f'sum(rate(http_requests_total{{{availability},status=~"5.."}}'
                               f"[{WINDOW}]))",
                "total_query": f"sum(rate(http_requests_total{{{availability}}}[{WINDOW}]))",
            }},
            "alerting": _alerting("ApiAvailabilityBudgetBurn", alerts.availability_annotations,
                                  ctx, "availability"),
        },
        {
            "name": "requests-latency",
            "objective": service.latency.objective,
            "description": Quoted(f"{number(service.latency.objective)}% of requests to "
                                  f"{alerts.routes_text(ctx.routes('latency'))} answered within "
                                  f"{service.latency.threshold_text}."),
            "sli": {"events": {
                "error_query": f"sum(rate(http_request_duration_seconds_count{{{latency}}}"
                               f"[{WINDOW}]))\n- sum(rate(http_request_duration_seconds_bucket"
                               f'{{{latency},le="{le}"}}[{WINDOW}]))\n',
                "total_query": f"sum(rate(http_request_duration_seconds_count{{{latency}}}"
                               f"[{WINDOW}]))",
            }},
            "alerting": _alerting("ApiLatencyBudgetBurn", alerts.latency_annotations, ctx,
                                  "latency"),
        },
    ]
    header = (f"{HEADER}\n\nThe SLOs of alerts/slo.yml in Sloth's prometheus/v1 spec "
              "(https://sloth.dev), for teams that\nrun Sloth: `sloth generate -i slo/sloth.yml "
              f"--default-slo-period={service.window}` writes the recording\nrules and "
              "multi-window burn-rate alerts (Sloth's own rule names; the same alert names and\n"
              "severities). Each SLI counts the routes that declare the SLO where they are "
              "registered.\nThe suite validates this file with Sloth itself (tests/sloth).")
    return dump({"version": "prometheus/v1", "service": service.name, "slos": slos}, header)
