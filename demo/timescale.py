"""Honest time compression: every duration in the alert rules and in Alertmanager's timers divided
by one factor N, every threshold left alone.

A burn-rate alert compares a ratio (errors per request over a window) with a multiple of the
error budget; the ratio does not depend on how long the window is, only on which requests fall in
it. Dividing every window, every `for:` and every notification timer by the same N keeps each
alert's meaning ("2 % of the budget in 1/720 of the compliance window") on a compliance window N
times shorter. The rule and recording names stay as generated (`ratio_rate5m` now spans 5m/N),
so the dashboards and runbooks read the same.

PromQL durations are rewritten where PromQL has them (range selectors `[5m]`, subqueries
`[1h:5m]`, `offset 5m`), never inside string literals (label matchers) or comments.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000,
             "m": 60_000, "s": 1000, "ms": 1}
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_PART = re.compile(r"(\d+)(ms|[smhdwy])")
# What PromQL writes outside durations that must not be touched: strings and comments.
_OPAQUE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`|#[^\n]*')
_RANGE = re.compile(rf"\[\s*({_DURATION})\s*(?::\s*({_DURATION})?\s*)?\]")
_OFFSET = re.compile(rf"\b(offset\s+-?)({_DURATION})\b")
# Alertmanager's route timers.
ROUTE_TIMERS = ("group_wait", "group_interval", "repeat_interval")


class ScaleError(ValueError):
    """A duration that cannot be divided as asked (too short to survive the division)."""


def parse_ms(text: str) -> int:
    """`1h30m` → 5_400_000."""
    if not re.fullmatch(_DURATION, text):
        raise ScaleError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS_MS[unit] for n, unit in _PART.findall(text))


def format_ms(ms: int) -> str:
    """The shortest exact spelling: 72 minutes → `1h12m`, 2.5 s → `2s500ms`."""
    if ms <= 0:
        raise ScaleError("a duration must stay positive")
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, ms = divmod(ms, _UNITS_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def divide(text: str, factor: int) -> str:
    """One duration divided by `factor`, to the millisecond."""
    ms = parse_ms(text)
    scaled = round(ms / factor)
    if scaled < 1:
        raise ScaleError(f"{text} divided by {factor} is under a millisecond")
    return format_ms(scaled)


def scale_promql(expr: str, factor: int) -> str:
    def rewrite(code: str) -> str:
        def range_(match: re.Match[str]) -> str:
            window, step = match.group(1), match.group(2)
            if ":" not in match.group(0):
                return f"[{divide(window, factor)}]"
            return f"[{divide(window, factor)}:{divide(step, factor) if step else ''}]"

        code = _RANGE.sub(range_, code)
        return _OFFSET.sub(lambda m: m.group(1) + divide(m.group(2), factor), code)

    out, last = [], 0
    for opaque in _OPAQUE.finditer(expr):
        out += [rewrite(expr[last:opaque.start()]), opaque.group(0)]
        last = opaque.end()
    out.append(rewrite(expr[last:]))
    return "".join(out)


def scale_rules(document: dict[str, Any], factor: int) -> dict[str, Any]:
    """A rule file (parsed YAML) with every duration divided; names, labels, annotations and
    thresholds unchanged."""
    groups = []
    for group in document.get("groups", []):
        group = dict(group)
        if "interval" in group:
            group["interval"] = divide(str(group["interval"]), factor)
        rules = []
        for rule in group.get("rules", []):
            rule = dict(rule)
            rule["expr"] = scale_promql(str(rule["expr"]), factor)
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = divide(str(rule[key]), factor)
            rules.append(rule)
        group["rules"] = rules
        groups.append(group)
    return {**document, "groups": groups}


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []) or []:
        yield from _routes(child)


def alertmanager_config(document: dict[str, Any], factor: int, webhook: str) -> dict[str, Any]:
    """The repository's Alertmanager configuration with its routing and inhibition as written,
    its timers divided by `factor`, and every receiver replaced by the webhook
    (`<webhook>/<receiver name>`), so the demo sees what each receiver would have been sent."""
    config = copy.deepcopy(document)
    for route in _routes(config["route"]):
        for key in ROUTE_TIMERS:
            if key in route:
                route[key] = divide(str(route[key]), factor)
    glob = config.get("global") or {}
    if "resolve_timeout" in glob:
        glob["resolve_timeout"] = divide(str(glob["resolve_timeout"]), factor)
    config["receivers"] = [
        {"name": receiver["name"], "webhook_configs": [
            {"url": f"{webhook}/{receiver['name']}", "send_resolved": True}]}
        for receiver in config.get("receivers", [])
    ]
    return config


def shortest_range_ms(documents: list[dict[str, Any]]) -> int:
    """The shortest range selector in the rules: it must still span a few scrapes."""
    found = [parse_ms(match.group(1))
             for document in documents for group in document.get("groups", [])
             for rule in group.get("rules", [])
             for code in _OPAQUE.split(str(rule["expr"]))
             for match in _RANGE.finditer(code)]
    return min(found)


class _BlockStrings(yaml.SafeDumper):
    """Multi-line expressions as `|` blocks, as the generated files write them."""


_BlockStrings.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_BlockStrings, sort_keys=False, width=10_000)


def write_scaled_rules(sources: list[Path], out: Path, factor: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        scaled = scale_rules(yaml.safe_load(source.read_text()), factor)
        path = out / source.name
        header = (f"# {source.name} with every duration divided by {factor} (demo/timescale.py);"
                  " thresholds unchanged.\n")
        path.write_text(header + dump(scaled))
        written.append(path)
    return written
