"""Grafana dashboards, provisioning and the compose file: valid structure, no drift, and
exemplar dots that open the trace they name."""

import json
import re

import pytest
import yaml

from generate.spec import load_spec
from tests.service import REPO

DASHBOARDS = REPO / "dashboards"
DATASOURCE = DASHBOARDS / "provisioning/datasources/prometheus.yml"


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


def grafana_expand(value: str, environ: dict[str, str]) -> str:
    """What Grafana's provisioning makes of a value: `$$` is a literal `$`; elsewhere `$VAR` and
    `${VAR}` are replaced by the environment's value, or by nothing (Go's os.ExpandEnv)."""
    def expand(part: str) -> str:
        return re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)",
                      lambda m: environ.get(m.group(1) or m.group(2), ""), part)

    return "$".join(expand(part) for part in value.split("$$"))


def exemplar_targets(name: str) -> list[dict]:
    return [target for panel in load(name)["panels"] for target in panel["targets"]
            if target.get("exemplar")]


@pytest.mark.parametrize("name", ["api-overview.json", "slo.json"])
def test_the_latency_quantiles_fetch_exemplars(name):
    """A dot on a latency panel is one request, with the trace that explains it: the exemplar
    targets are the histogram quantiles of the request duration."""
    targets = exemplar_targets(name)
    assert targets, name
    for target in targets:
        assert target["expr"].startswith("histogram_quantile(")
        assert "http_request_duration_seconds_bucket" in target["expr"]


def test_an_exemplar_opens_its_trace():
    """The destination is a working link: with TRACE_UI_URL set (compose sets it for Grafana),
    Grafana's provisioning leaves `${__value.raw}`, the exemplar's trace id, for the click."""
    (source,) = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    (destination,) = source["jsonData"]["exemplarTraceIdDestinations"]
    assert destination.get("url") or destination.get("datasourceUid")
    if "url" in destination:
        url = grafana_expand(destination["url"], {"TRACE_UI_URL": "http://traces.test:16686"})
        assert url == "http://traces.test:16686/trace/${__value.raw}"
        compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
        assert compose["services"]["grafana"]["environment"]["TRACE_UI_URL"].startswith(
            "${TRACE_UI_URL:-http")
    assert destination["name"] == "trace_id"


async def test_the_exemplar_label_is_the_one_the_service_writes(aiohttp_client):
    """The destination's `name` is the exemplar label Grafana reads the trace id from: the one
    the service puts on the request-duration buckets it exposes (OpenMetrics)."""
    from app.web.app import create_app
    from generate.spec import load_context
    from tests.conftest import make_settings
    from tests.telemetry.receivers import OtlpReceiver

    receiver = OtlpReceiver()
    collector = await aiohttp_client(receiver.app())
    app = create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=str(collector.make_url("/v1/traces")),
        OTEL_TRACES_SAMPLER="always_on"))
    client = await aiohttp_client(app)
    route = load_context().example("latency")
    await client.get(route.path)
    exposition = await (await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text"})).text()
    exemplars = [line.partition(" # ")[2] for line in exposition.splitlines()
                 if line.startswith("http_request_duration_seconds_bucket{")
                 and f'route="{route.path}"' in line and " # {" in line]
    assert exemplars
    names = {name for exemplar in exemplars
             for name in re.findall(r'(\w+)="', exemplar.partition("}")[0])}
    (source,) = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    assert names == {d["name"] for d in source["jsonData"]["exemplarTraceIdDestinations"]}
