"""Files rendered from `X.jinja` sources with service.yml's values.

copier renders the same sources with a new project's answers (copier.yml), so this repository's
own copy of each file and every generated project's come from one text. The context uses the
copier question names. A project made from the template has no sources left (copier rendered
them), so there this writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

# Relative to the repository root; each has its source beside it as `<path>.jinja`.
RENDERED = (
    "service.yml",
    "app/identity.json",
    "pyproject.toml",
    ".env.example",
    "docker-compose.yml",
    "dashboards/provisioning/dashboards/dashboards.yml",
    "deploy/k8s/README.md",
    "deploy/k8s/base/configmap.yaml",
    "deploy/k8s/base/deployment.yaml",
    "deploy/k8s/base/hpa.yaml",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/pdb.yaml",
    "deploy/k8s/base/secret.example.yaml",
    "deploy/k8s/base/service.yaml",
    "deploy/k8s/base/servicemonitor.yaml",
    "deploy/k8s/overlays/production/deployment-patch.yaml",
    "deploy/k8s/overlays/production/kustomization.yaml",
    "README.md",
    "docs/operations.md",
    "docs/runbooks.md",
)


def context(spec: Mapping[str, Any]) -> dict[str, Any]:
    """copier's answers, as this repository's service.yml gives them. This repository is the
    template itself, with the example domain."""
    slos = spec["slos"]
    return {
        "service_name": spec["name"],
        "description": spec["description"],
        "availability_objective": slos["availability"]["objective"],
        "latency_threshold_seconds": slos["latency"]["threshold_seconds"],
        "latency_objective": slos["latency"]["objective"],
        "runbooks_url": spec["links"]["runbooks"],
        "grafana_url": spec["links"]["grafana"],
        "include_example_domain": True,
        "template_repository": True,
    }


def render(root: Path, spec: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Path (relative to root) → text, for every source present; `spec` defaults to root's
    service.yml."""
    if spec is None:
        spec = yaml.safe_load((root / "service.yml").read_text(encoding="utf-8"))
    # As copier renders: trailing newlines kept, no autoescaping; undefined names fail here.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    values = context(spec)
    return {path: env.get_template(f"{path}.jinja").render(values)
            for path in RENDERED if (root / f"{path}.jinja").exists()}
