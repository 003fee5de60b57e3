"""Render the main panels of the SLO and overview dashboards to PNG from a live Prometheus, for
people who would rather look than read.

    python dashboards/render.py --prometheus http://127.0.0.1:9090 --out docs/img --minutes 15

Each dashboard becomes one PNG: a grid of its time-series panels, queried exactly as Grafana
would (with $__rate_interval set to --rate), drawn with matplotlib.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
MAIN_PANELS = {"slo.json": 4, "api-overview.json": 4}  # the first N time-series panels


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


def render(prometheus: str, out: Path, minutes: float, rate: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    end = time.time()
    start = end - minutes * 60
    step = max(1.0, minutes * 60 / 300)
    written = []
    for filename, count in MAIN_PANELS.items():
        board = json.loads((HERE / filename).read_text())
        panels = [p for p in board["panels"] if p["type"] == "timeseries"][:count]
        figure, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels)), sharex=True)
        for ax, panel in zip(axes, panels, strict=True):
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", rate)
                for series in query_range(prometheus, expr, start, end, step):
                    points = [(datetime.fromtimestamp(t, UTC), float(v))
                              for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
                    if points:
                        xs, ys = zip(*points, strict=True)
                        ax.plot(xs, ys, label=legend(target["legendFormat"], series["metric"]))
            ax.set_title(panel["title"], fontsize=10, loc="left")
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
            if ax.lines:
                ax.legend(fontsize=7, loc="upper left", ncol=3)
        figure.suptitle(board["title"])
        figure.tight_layout()
        path = out / filename.replace(".json", ".png")
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--rate", default="1m", help="what $__rate_interval stands for")
    args = parser.parse_args()
    for path in render(args.prometheus, args.out, args.minutes, args.rate):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
