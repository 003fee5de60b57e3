"""`python -m generate [--check]`: write every derived file, or with --check name the stale ones
and exit 1. The list below is the whole of it: one line per file (or per family of files)."""

from __future__ import annotations

import argparse
import sys

from generate import (
    Render,
    alerts,
    dashboards,
    deploy,
    promtool_tests,
    render_all,
    sloth,
    stale,
    write,
)
from generate import rendered as sources
from generate.spec import ROOT, load_context

# Every derived file: (path from the repository root, render(context) -> text).
OUTPUTS: list[tuple[str, Render]] = [
    ("alerts/slo.yml", alerts.slo),
    ("alerts/operations.yml", alerts.operations),
    *((f"alerts/tests/{name}", render) for name, render in promtool_tests.RENDERERS.items()),
    *((f"dashboards/{name}", render) for name, render in dashboards.RENDERERS.items()),
    ("deploy/k8s/base/prometheusrule.yaml", deploy.prometheus_rule),
    ("prometheus.yml", deploy.prometheus_config),
    ("slo/sloth.yml", sloth.spec),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generate", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming the files that are out of date")
    args = parser.parse_args(argv)
    try:
        ctx = load_context()
        # And the files rendered from *.jinja sources with service.yml's values.
        rendered = render_all(ctx, OUTPUTS) | sources.render(ROOT)
    except ValueError as problem:  # service.yml or the route table: say what, not a traceback
        print(f"generate: {problem}", file=sys.stderr)
        return 2
    if args.check:
        out_of_date = stale(rendered)
        for path in out_of_date:
            print(f"out of date: {path}", file=sys.stderr)
        if out_of_date:
            print("run `make generate` and commit the result", file=sys.stderr)
            return 1
        return 0
    for path in write(rendered):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
