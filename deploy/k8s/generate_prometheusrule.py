"""Write deploy/k8s/base/prometheusrule.yaml from alerts/*.yml: the same groups, wrapped in the
Prometheus Operator's PrometheusRule. `python deploy/k8s/generate_prometheusrule.py`; a test
keeps the committed file in sync."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).resolve().parent / "base" / "prometheusrule.yaml"


def render() -> str:
    groups = []
    for path in sorted((ROOT / "alerts").glob("*.yml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "catalog-api"},
        "spec": {"groups": groups},
    }
    header = ("# Generated from alerts/*.yml by deploy/k8s/generate_prometheusrule.py: "
              "do not edit.\n")
    return header + yaml.safe_dump(rule, sort_keys=False, width=1000)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
