"""One failed request of the incident, followed from its request id alone, as an operator would
from a user's report (every answer carries X-Request-Id):

1. the access line: the service's log, `requestId` = the id (it names the trace: `traceId`);
2. the span: the OTLP receiver's spans, attribute `request.id` = the id, and its trace's
   children (the database commands);
3. the exemplar: Prometheus's /api/v1/query_exemplars around the request's time, the one whose
   `trace_id` is the span's: the point on the dashboard that leads to this request;
4. the Sentry event, when the request had one (tag `request_id` = the id).

Which request: one that Prometheus kept as an exemplar of a 5xx series during the incident (an
exemplar only ever points at a sampled request), preferring a browse (`GET /content`).
"""

from __future__ import annotations

import json
from typing import Any

from app.identity import NAME
from tests.prometheus_server import Prometheus

FAILED = f'http_requests_total{{job="{NAME}",status=~"5.."}}'
EXEMPLARS = ('{__name__=~"http_requests_total|http_request_duration_seconds_bucket",'
             f'job="{NAME}"}}')
SPAN_STATUS = {0: "unset", 1: "ok", 2: "error"}  # OTLP's status codes
PREFERRED = ("/content", "/content/{id}", "/me", "/auth/login", "/auth/refresh")


def exemplars(prometheus: Prometheus, query: str, start: float, end: float) -> list[dict[str, Any]]:
    """Flattened: one dict per exemplar, with its series' labels."""
    data = prometheus.api("query_exemplars", query=query, start=f"{start:.3f}", end=f"{end:.3f}")
    return [{"series": series["seriesLabels"], "traceId": ex["labels"].get("trace_id"),
             "value": ex["value"], "timestamp": ex["timestamp"]}
            for series in data for ex in series["exemplars"]]


def candidates(prometheus: Prometheus, start: float, end: float) -> list[str]:
    """Trace ids of failed requests that Prometheus kept as exemplars in [start, end], the
    preferred routes first, then nearest the middle of the window."""
    found = exemplars(prometheus, FAILED, start, end)
    middle = (start + end) / 2

    def rank(ex: dict[str, Any]) -> tuple[int, float]:
        route = ex["series"].get("route", "")
        return (PREFERRED.index(route) if route in PREFERRED else len(PREFERRED),
                abs(float(ex["timestamp"]) - middle))

    return [ex["traceId"] for ex in sorted(found, key=rank) if ex["traceId"]]


def pick(trace_ids: list[str], spans: list[dict[str, Any]]) -> str | None:
    """The request id of the first candidate whose server span arrived."""
    by_trace = {s["trace_id"]: s for s in spans if s["attributes"].get("request.id")}
    for trace_id in trace_ids:
        span = by_trace.get(trace_id)
        if span is not None:
            return str(span["attributes"]["request.id"])
    return None


def follow(request_id: str, log_text: str, spans: list[dict[str, Any]],
           events: list[dict[str, Any]], prometheus: Prometheus) -> dict[str, Any]:
    """Everything each signal holds about `request_id`, found from it alone."""
    log_lines = []
    for raw in log_text.splitlines():
        if request_id in raw:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("requestId") == request_id:
                log_lines.append(line)
    access = next((line for line in log_lines if line.get("msg") == "request.completed"), None)
    server = next((s for s in spans if s["attributes"].get("request.id") == request_id), None)
    trace_id = server["trace_id"] if server else (access or {}).get("traceId")
    trace = [s for s in spans if trace_id and s["trace_id"] == trace_id]
    exemplar = None
    if access is not None and trace_id:
        from datetime import datetime

        at = datetime.fromisoformat(access["ts"].replace("Z", "+00:00")).timestamp()
        around = exemplars(prometheus, EXEMPLARS, at - 30, at + 30)
        exemplar = next((ex for ex in around if ex["traceId"] == trace_id), None)
    sentry = [event for event in events if tags(event).get("request_id") == request_id]
    return {"requestId": request_id, "traceId": trace_id, "logLines": log_lines,
            "accessLine": access, "span": server, "trace": trace, "exemplar": exemplar,
            "sentryEvents": sentry}


def tags(event: dict[str, Any]) -> dict[str, Any]:
    tags = event.get("tags") or {}
    return dict(tags) if isinstance(tags, (dict, list)) else {}


def markdown(trail: dict[str, Any], sentry_total: int, file: str = "request.json") -> list[str]:
    rid, access, span, exemplar = (trail["requestId"], trail["accessLine"], trail["span"],
                                   trail["exemplar"])
    lines = [f"Request id **`{rid}`**, looked up in each signal by that id alone "
             f"(`{file}` holds everything found).", ""]
    if access:
        lines += ["1. **Access line** (`service.log`, `requestId`):", "",
                  "   ```json", "   " + json.dumps(access, separators=(",", ":")), "   ```"]
    else:
        lines.append("1. **Access line**: not found.")
    if span:
        seconds = (span["end_ns"] - span["start_ns"]) / 1e9 if span.get("end_ns") else None
        children = [s for s in trail["trace"] if s["span_id"] != span["span_id"]]
        lines += ["2. **Span** (OTLP receiver, attribute `request.id`): "
                  f"`{span['name']}`, trace `{span['trace_id']}`, span `{span['span_id']}`, "
                  f"status {SPAN_STATUS.get(span['status'], span['status'])}"
                  + (f", {seconds * 1000:.0f} ms" if seconds is not None else "")
                  + f"; attributes `{json.dumps(span['attributes'], separators=(',', ':'))}`; "
                  + (f"{len(children)} child span(s): "
                     + ", ".join(f"`{c['name']}`" for c in children)
                     if children else "no child span (no database command was sent)") + "."]
    else:
        lines.append("2. **Span**: not found.")
    if exemplar:
        series = ",".join(f'{k}="{v}"' for k, v in sorted(exemplar["series"].items()))
        lines.append(f"3. **Exemplar** (`/api/v1/query_exemplars`): on `{{{series}}}`, "
                     f"value {float(exemplar['value']):.3f}, `trace_id` `{exemplar['traceId']}`: "
                     "the same "
                     "trace as the access line's `traceId` and the span.")
    else:
        lines.append("3. **Exemplar**: none kept for this trace.")
    if trail["sentryEvents"]:
        event = trail["sentryEvents"][0]
        lines.append(f"4. **Sentry event** `{event.get('event_id')}` ({event.get('level')}, "
                     f"`{event.get('message') or event.get('logentry', {}).get('message')}`), "
                     f"tags {json.dumps(tags(event), separators=(',', ':'))}.")
    else:
        lines.append("4. **Sentry event**: none, as designed: a `503 dependency.unavailable` is "
                     "an answer the service chose, not an unhandled error; Sentry gets 500s and "
                     f"security events (it received {sentry_total} during the demo, see "
                     "`sentry.jsonl`).")
    return lines
