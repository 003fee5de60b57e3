"""The report folder: the four dashboards with the incident shaded, the alert timeline and the
notifications, one failed request followed through every signal, the figures of each phase,
the raw material (access log, spans, Sentry events, traffic, the configuration that ran), and a
one-page report.md that ties them together."""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import yaml

from demo import figures, trail
from demo.incident import JITTER_MS, latency_ms
from demo.progress import clock
from demo.rig import DEMO_SETTINGS
from demo.timeline import utc
from tests.service import REPO

if TYPE_CHECKING:
    from demo.run import Run

_spec = importlib.util.spec_from_file_location("render", REPO / "dashboards" / "render.py")
assert _spec is not None and _spec.loader is not None
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)

COLORS = {"incident: slow": "tab:orange", "incident: down": "tab:red",
          "recovering": "tab:green"}
PICTURES = ("slo.png", "api-overview.png", "mongodb.png", "security.png")


def write(run: Run) -> None:
    rig, out = run.rig, run.out
    assert rig.prometheus is not None and rig.service is not None and rig.receivers is not None
    phases = run.phases
    start, end = phases[0].start, phases[-1].end
    shaded = [render.Phase(p.name.removeprefix("incident: "), p.start, p.end, COLORS[p.name])
              for p in phases if p.name in COLORS]
    render.render_range(rig.prometheus.url, out, start, end, run.scale.rate_interval,
                        phases=shaded, note=f"demo, time compressed {run.scale.compression}x")

    with urllib.request.urlopen(rig.service.url + "/openapi.json", timeout=10) as response:
        openapi = json.loads(response.read())
    numbers = figures.Figures(rig.prometheus, openapi, rig.service.output())
    all_figures = [numbers.window(figures.Window(p.name, p.start, p.end)) for p in phases]
    figures.write(out, all_figures)

    down = next(p for p in phases if p.name == "incident: down")
    trace_ids = trail.candidates(rig.prometheus, down.start, down.end)

    stopped_at = time.time()
    rig.stop_service()  # it flushes its spans and Sentry events on the way out
    spans = _settled(rig.receivers.spans)
    events = rig.receivers.events()
    notifications = [n for n in rig.receivers.notifications() if n["receivedAt"] < stopped_at]
    log_text = (out / "service.log").read_text()
    request_id = trail.pick(trace_ids, spans)
    followed = (trail.follow(request_id, log_text, spans, events, rig.prometheus)
                if request_id else None)
    # The failed request of the incident had no Sentry event (a 503 is not one): the last
    # request that had one shows that leg of the trail.
    reported = next((tags["request_id"] for tags in map(trail.tags, reversed(events))
                     if tags.get("request_id")), None)
    with_event = (trail.follow(reported, log_text, spans, events, rig.prometheus)
                  if reported else None)

    run.timeline.write(out, notifications)
    _jsonl(out / "spans.jsonl", spans)
    _jsonl(out / "sentry.jsonl", events)
    (out / "request.json").write_text(json.dumps(followed, indent=1))
    (out / "sentry-request.json").write_text(json.dumps(with_event, indent=1))
    (out / "report.md").write_text(markdown(run, all_figures, followed, with_event,
                                            notifications, events, len(spans)))


def _settled(read: Any, quiet: float = 0.5, limit: float = 5.0) -> list[dict[str, Any]]:
    """What the receiver holds once nothing more has arrived for `quiet` seconds."""
    deadline = time.monotonic() + limit
    count = -1
    while time.monotonic() < deadline:
        items = read()
        if len(items) == count:
            return items
        count = len(items)
        time.sleep(quiet)
    return read()


def _jsonl(path: Any, items: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items))


def routing(config: dict[str, Any]) -> list[str]:
    """alertmanager.yml's routes and inhibitions in words, from the file that ran."""
    root = config["route"]
    lines = []
    for route in [*root.get("routes", []), root]:
        matchers = ", ".join(f"`{m}`" for m in route.get("matchers", [])) or "anything else"
        group_by = route.get("group_by", root.get("group_by", []))
        lines.append(f"- {matchers} → `{route['receiver']}`, grouped by "
                     f"{', '.join(group_by) or 'nothing'}")
    for rule in config.get("inhibit_rules", []):
        lines.append(f"- while {', '.join(f'`{m}`' for m in rule['source_matchers'])} fires, "
                     f"{', '.join(f'`{m}`' for m in rule['target_matchers'])} stays quiet "
                     f"(same {', '.join(rule.get('equal', [])) or 'anything'})")
    return lines


def markdown(run: Run, all_figures: list[dict[str, Any]], followed: dict[str, Any] | None,
             with_event: dict[str, Any] | None, notifications: list[dict[str, Any]],
             events: list[dict[str, Any]], span_count: int) -> str:
    scale, timeline = run.scale, run.timeline
    n = scale.compression
    phases = "\n".join(
        f"| {p.name} | {clock(p.start - run.started)} | {clock(p.end - run.started)} "
        f"({p.end - p.start:.0f} s) | {utc(p.start)} to {utc(p.end)} | {p.detail} |"
        for p in [run.startup, *run.phases] if p is not None)
    settings = "\n".join(f"- `{name}={value}`: {why}." for name, (value, why)
                         in DEMO_SETTINGS.items())
    fired = ", ".join(sorted({e.name for e in timeline.fired()})) or "none"
    by_receiver: dict[str, int] = {}
    for note in notifications:
        by_receiver[note["receiver"]] = by_receiver.get(note["receiver"], 0) + 1
    sections = [
        f"# Demo report ({scale.name} scale)", "",
        "The service on FerretDB behind Toxiproxy, scraped each "
        f"{scale.interval:g} s by Prometheus with the repository's rules, alerts routed by "
        "Alertmanager with the repository's alertmanager.yml, spans and Sentry events sent to "
        "loopback receivers; extension-shaped traffic (`traffic.jsonl`) through a database "
        f"incident: slow ({latency_ms()}±{JITTER_MS} ms per reply), then down, then back.", "",
        f"**Time compression: every duration divided by {n}; thresholds unchanged.** Every "
        "range and `for:` of the rules, Alertmanager's group_wait, group_interval and "
        "repeat_interval, and how often Prometheus re-sends a firing alert (`config/`) are "
        f"1/{n} of the repository's (or of Prometheus's default); the burn-rate thresholds "
        "are ratios of the error budget, so each alert keeps its meaning on a compliance "
        f"window of {30 * 24 * 60 // n // 60} h instead of 30 days. Names are unchanged: "
        f"`ratio_rate5m` spans {5 * 60 / n:g} s here, `1h` {3600 / n:g} s, `6h` "
        f"{6 * 3600 / n / 60:g} min; a page waits `for: 2m` = {120 / n:g} s.", "",
        "Settings changed from the service's defaults:", "", settings, "",
        "## Phases", "",
        "| phase | from | to | UTC | what |", "|---|---|---|---|---|", phases, "",
        "## Alerts", "",
        f"Fired: {fired}. Alertmanager notified: "
        + (", ".join(f"{r} {c}x" for r, c in sorted(by_receiver.items())) or "nobody")
        + ". Full table and every notification: [timeline.md](timeline.md).", "",
        *timeline.table(), "",
        "Ticket alerts look at 3-day and 6-hour windows "
        f"({3 * 24 * 60 / n:g} and {6 * 60 / n:g} minutes here): they stay firing after the "
        "pages resolve, as they would for days in production. Alertmanager routed them as "
        "alertmanager.yml says:", "",
        *routing(yaml.safe_load((run.out / "config" / "alertmanager.yml").read_text())), "",
        "## One failed request, from its id", "",
        *(trail.markdown(followed, len(events)) if followed else
          ["No failed request of the incident was kept as an exemplar with its span."]), "",
        *(["A request that did reach Sentry (`sentry-request.json`), followed the same way:",
           "", *trail.markdown(with_event, len(events), "sentry-request.json"), ""]
          if with_event else []),
        "## What normal looked like", "",
        *figures.normal_markdown(all_figures[0], run.started), "",
        "## The incident in numbers", "",
        *figures.phases_markdown(all_figures), "",
        "Access lines are exact: every request, in the phase it completed, with its own "
        "duration (p99 by nearest rank); p99 from Prometheus is histogram_quantile over the "
        "phase (bucket-interpolated, what the dashboards show); auth and Mongo counts are "
        "counter differences between the phase's edges (`figures.json`). In the down phase "
        "requests wait for the database up to `MONGO_TIMEOUT_MS` (1 s) before their 503, so "
        "they count against the latency SLO too.", "",
        "## Dashboards", "",
        "The four dashboards over the demo, queried as Grafana would "
        f"(`$__rate_interval` = {scale.rate_interval}); slow, down and recovering shaded. The "
        f"30-day panels (SLI, budget left) read a {30 * 24 / n:g}-hour window that holds only "
        "the demo's minutes, so one incident spends many budgets there; the burn-rate panels "
        "are the ones to read.", "",
        *[f"![{name}]({name})" for name in PICTURES], "",
        "Files: `service.log` (every line the service wrote), `spans.jsonl` "
        f"({span_count} spans the OTLP receiver decoded), `sentry.jsonl` ({len(events)} "
        "events), `traffic.jsonl` (the clients' side), `request.json`, `figures.json`, "
        "`timeline.json`, `config/` (the rules, prometheus.yml and alertmanager.yml that ran).",
        "",
    ]
    return "\n".join(sections)
