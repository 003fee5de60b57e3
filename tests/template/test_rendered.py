"""Files rendered from `*.jinja` sources (generate/rendered.py): this repository's copies are the
sources rendered with service.yml's values, and the sources carry the name nowhere else."""

from __future__ import annotations

import yaml

from generate.rendered import RENDERED, context, render
from tests.service import REPO


def test_every_rendered_file_is_current() -> None:
    spec = yaml.safe_load((REPO / "service.yml").read_text())
    stale = [path for path, text in render(REPO, spec).items()
             if (REPO / path).read_text() != text]
    assert stale == [], f"{stale}: edit the .jinja source, then run make generate"


def test_every_listed_source_exists() -> None:
    assert [path for path in RENDERED if not (REPO / f"{path}.jinja").exists()] == []


def test_another_name_leaves_no_trace_of_this_one() -> None:
    spec = yaml.safe_load((REPO / "service.yml").read_text())
    spec["name"] = "orders-api"
    # copier's default runbooks_url names the service; a project's answer gives its own.
    spec["links"]["runbooks"] = spec["links"]["runbooks"].replace("catalog-api", "orders-api")
    for path, text in render(REPO, spec).items():
        assert "catalog-api" not in text, path
        assert "orders-api" in text or path not in {"service.yml", "pyproject.toml"}, path
    assert context(spec)["service_name"] == "orders-api"
