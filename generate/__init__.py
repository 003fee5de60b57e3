"""`make generate` (`python -m generate`): every file derived from service.yml and the app's
own route table, written from one list (`generate.__main__.OUTPUTS`); `--check` names the
committed files that differ from what would be written, and exits 1.

- generate.spec: service.yml, checked, and the route table (each Operation's `slos`)
- generate.alerts: alerts/slo.yml, alerts/operations.yml
- generate.promtool_tests: alerts/tests/*.yml
- generate.dashboards: dashboards/*.json
- generate.deploy: prometheus.yml, deploy/k8s/base/prometheusrule.yaml
- generate.sloth: slo/sloth.yml
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generate.spec import ROOT, Context

Render = Callable[[Context], str]


def render_all(ctx: Context, outputs: list[tuple[str, Render]]) -> dict[str, str]:
    """Path (relative to the repository) -> text, for every output."""
    return {path: render(ctx) for path, render in outputs}


def stale(rendered: dict[str, str], root: Path = ROOT) -> list[str]:
    """The paths whose committed text differs from `rendered` (or that do not exist)."""
    out = []
    for path, text in rendered.items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            out.append(path)
    return out


def write(rendered: dict[str, str], root: Path = ROOT) -> list[str]:
    """Write what changed; the paths written."""
    changed = stale(rendered, root)
    for path in changed:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered[path], encoding="utf-8")
    return changed
