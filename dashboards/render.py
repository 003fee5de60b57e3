"""Render dashboards to PNG from a live Prometheus, for people who would rather look than read.

    python dashboards/render.py --prometheus http://127.0.0.1:9090 --out /tmp/d --minutes 15
    python dashboards/render.py --all --start 1700000000 --end 1700000300 --rate 10s --out /tmp/d

Each dashboard becomes one PNG: a grid of its panels, queried exactly as Grafana would (with
$__rate_interval set to --rate, $__interval to the step and $__range to the time range), drawn
with matplotlib. By default the main time-series panels of the SLO and overview dashboards over
the last --minutes; `--all` draws every panel of the four dashboards (a stat panel as its value
over time). `render_range` (used by the demo) also shades phases of the range, e.g. an incident.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

HERE = Path(__file__).resolve().parent
MAIN_PANELS = {"slo.json": 4, "api-overview.json": 4}  # the first N time-series panels
DASHBOARDS = ("slo.json", "api-overview.json", "mongodb.json", "security.json")
UNIT_LABELS = {"reqps": "req/s", "ops": "ops/s", "s": "seconds"}


class Phase(NamedTuple):
    """A stretch of the range to shade (Unix seconds). A NamedTuple, not a dataclass: the
    tests load this file by path, outside sys.modules."""

    label: str
    start: float
    end: float
    color: str


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=10) as r:
        return json.loads(r.read())["data"]["result"]


def legend(template: str, labels: dict[str, str]) -> str:
    if template == "__auto":
        return ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def _seconds_text(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _with_gaps(values: list, step: float) -> tuple[list[datetime], list[float]]:
    """The points of a series, with a break wherever it has no value (a missing step, NaN,
    ±Inf), as Grafana draws it, rather than a line across."""
    xs: list[datetime] = []
    ys: list[float] = []
    previous = None
    for t, v in values:
        if previous is not None and t - previous > 1.5 * step:
            xs.append(datetime.fromtimestamp(previous + step, UTC))
            ys.append(math.nan)
        value = float(v)
        xs.append(datetime.fromtimestamp(t, UTC))
        ys.append(value if math.isfinite(value) else math.nan)
        previous = t
    return xs, ys


def _draw(ax, panel: dict, prometheus: str, start: float, end: float, step: float,
          variables: dict[str, str]) -> None:
    for target in panel["targets"]:
        expr = target["expr"]
        for variable, value in variables.items():
            expr = expr.replace(variable, value)
        for series in query_range(prometheus, expr, start, end, step):
            xs, ys = _with_gaps(series["values"], step)
            if any(not math.isnan(y) for y in ys):
                ax.plot(xs, ys, label=legend(target["legendFormat"], series["metric"]),
                        linewidth=1.2)
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if panel["type"] == "timeseries":  # a stat panel's thresholds colour it: no line
        for step in defaults.get("thresholds", {}).get("steps", []):
            if step.get("value") is not None:
                ax.axhline(step["value"], color=step.get("color", "red"), linestyle="--",
                           linewidth=0.8)
    title = panel["title"] + (" (stat, over time)" if panel["type"] == "stat" else "")
    ax.set_title(title, fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    unit = defaults.get("unit")
    if unit == "percentunit":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    elif unit in UNIT_LABELS:
        ax.set_ylabel(UNIT_LABELS[unit], fontsize=8)
    ax.tick_params(labelsize=7)
    if ax.lines:
        ax.legend(fontsize=6, loc="upper left", ncol=3)


def render_range(
    prometheus: str, out: Path, start: float, end: float, rate: str, *,
    dashboards: Sequence[str] = DASHBOARDS, panels: dict[str, int] | None = None,
    phases: Sequence[Phase] = (), note: str = "", columns: int = 2,
) -> list[Path]:
    """Each dashboard's panels over [start, end] (Unix seconds) to `<name>.png` in `out`;
    `panels` keeps only the first N time-series panels of a dashboard (default: every panel,
    stat panels drawn as their value over time); `phases` are shaded on every panel."""
    out.mkdir(parents=True, exist_ok=True)
    step = max(1.0, (end - start) / 300)
    variables = {"$__rate_interval": rate, "$__interval": _seconds_text(step),
                 "$__range": _seconds_text(end - start)}
    written = []
    for filename in dashboards:
        board = json.loads((HERE / filename).read_text())
        if panels is not None:
            chosen = [p for p in board["panels"] if p["type"] == "timeseries"][:panels[filename]]
        else:
            chosen = [p for p in board["panels"] if p.get("targets")]
        cols = min(columns, len(chosen))
        rows = -(-len(chosen) // cols)
        figure, axes = plt.subplots(rows, cols, figsize=(10 if cols == 1 else 7 * cols,
                                                          2.6 * rows), sharex=True,
                                    squeeze=False)
        for ax, panel in zip(axes.flat, chosen, strict=False):
            _draw(ax, panel, prometheus, start, end, step, variables)
            for phase in phases:
                ax.axvspan(datetime.fromtimestamp(phase.start, UTC),
                           datetime.fromtimestamp(phase.end, UTC), color=phase.color,
                           alpha=0.15, linewidth=0)
        for ax in list(axes.flat)[len(chosen):]:
            ax.set_visible(False)
        title = board["title"] + (f" — {note}" if note else "")
        figure.suptitle(title, fontsize=11)
        if phases:
            figure.legend(handles=[Patch(color=p.color, alpha=0.3, label=p.label)
                                   for p in phases],
                          loc="upper right", fontsize=8, ncol=len(phases), frameon=False)
        figure.tight_layout(rect=(0, 0, 1, 0.97 if phases or note else 1))
        path = out / filename.replace(".json", ".png")
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
    return written


def render(prometheus: str, out: Path, minutes: float, rate: str) -> list[Path]:
    """The main panels of the SLO and overview dashboards over the last `minutes`."""
    end = time.time()
    return render_range(prometheus, out, end - minutes * 60, end, rate,
                        dashboards=tuple(MAIN_PANELS), panels=MAIN_PANELS, columns=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--out", type=Path, required=True)  # docs/img holds the demo's pictures
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--start", type=float, help="Unix seconds (instead of --minutes)")
    parser.add_argument("--end", type=float, help="Unix seconds (default: now)")
    parser.add_argument("--all", action="store_true", help="every panel of the four dashboards")
    parser.add_argument("--rate", default="1m", help="what $__rate_interval stands for")
    args = parser.parse_args()
    end = args.end or time.time()
    start = args.start or end - args.minutes * 60
    if args.all:
        paths = render_range(args.prometheus, args.out, start, end, args.rate)
    else:
        paths = render_range(args.prometheus, args.out, start, end, args.rate,
                             dashboards=tuple(MAIN_PANELS), panels=MAIN_PANELS, columns=1)
    for path in paths:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
