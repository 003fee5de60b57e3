"""The name is declared once (service.yml) and rendered everywhere else; these must agree, or
Prometheus scrapes one job while every rule selects another and the alerts stay silent."""

from __future__ import annotations

import json
import tomllib

import yaml

from app.identity import DESCRIPTION, NAME
from tests.service import REPO


def test_every_copy_of_the_name_agrees() -> None:
    spec = yaml.safe_load((REPO / "service.yml").read_text())
    identity = json.loads((REPO / "app" / "identity.json").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    monitor = yaml.safe_load((REPO / "deploy/k8s/base/servicemonitor.yaml").read_text())
    relabelled = {relabel["replacement"]
                  for endpoint in monitor["spec"]["endpoints"]
                  for relabel in endpoint.get("relabelings", ())
                  if relabel.get("targetLabel") == "job"}
    scraped = {job["job_name"] for job in
               yaml.safe_load((REPO / "prometheus.yml").read_text())["scrape_configs"]}
    assert (identity["name"], identity["description"]) == (NAME, DESCRIPTION)
    assert spec["name"] == NAME == project["name"]
    assert spec["description"] == DESCRIPTION == project["description"]
    assert relabelled == {NAME}
    assert NAME in scraped
