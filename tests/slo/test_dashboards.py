"""Grafana dashboards, provisioning and the compose file: valid structure, no drift."""

import json

import yaml

from generate.spec import load_spec
from tests.service import REPO

DASHBOARDS = REPO / "dashboards"


def load(name: str) -> dict:
    return json.loads((DASHBOARDS / name).read_text())


def test_generated_json_is_committed_and_current():
    """generate/dashboards.py writes every dashboard (`make generate`), and nothing else is
    there."""
    from generate import dashboards
    from generate.spec import load_context

    context = load_context()
    assert set(dashboards.RENDERERS) == {path.name for path in DASHBOARDS.glob("*.json")}
    for name, render in dashboards.RENDERERS.items():
        assert (DASHBOARDS / name).read_text() == render(context), f"make generate: {name}"


def test_dashboards_are_well_formed():
    uids = set()
    for path in DASHBOARDS.glob("*.json"):
        board = json.loads(path.read_text())
        assert board["uid"] not in uids
        uids.add(board["uid"])
        assert board["schemaVersion"] >= 39
        (variable,) = board["templating"]["list"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus"
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"] and all(t["expr"] for t in panel["targets"])
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    name = load_spec().name
    assert {f"{name}-overview", f"{name}-slo", f"{name}-mongodb", f"{name}-security"} == uids
    assert all(len(uid) <= 40 for uid in uids)  # Grafana's limit


def test_provisioning_points_at_the_dashboards():
    provider = yaml.safe_load((DASHBOARDS / "provisioning/dashboards/dashboards.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((DASHBOARDS / "provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["type"] == "prometheus"


def test_compose_wires_the_whole_picture():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"mongo", "api", "prometheus", "alertmanager", "grafana"}
    assert "--replSet" in services["mongo"]["command"]
    assert "replicaSet=rs0" in services["api"]["environment"]["MONGO_URI"]
    assert services["api"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    mounts = " ".join(services["prometheus"]["volumes"] + services["grafana"]["volumes"])
    for path in ("./prometheus.yml", "./alerts", "./dashboards/provisioning/dashboards",
                 "./dashboards/provisioning/datasources", "./dashboards:"):
        assert path in mounts, path
        assert (REPO / path.rstrip(":").split(":")[0]).exists()
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    prometheus = yaml.safe_load((REPO / "prometheus.yml").read_text())
    (target,) = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert target.split(":")[0] in services
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
