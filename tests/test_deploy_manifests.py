"""The Kubernetes manifests, checked offline: core kinds against the Kubernetes JSON schemas
(kubernetes-validate), the operator's CRDs by structure, and what they must say."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from app.config import KNOWN_VARIABLES
from tests.service import REPO

K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
VERSION = kubernetes_validate.latest_version()


def load(path) -> dict:
    return yaml.safe_load(path.read_text())


def base_resources() -> dict[str, dict]:
    kustomization = load(BASE / "kustomization.yaml")
    return {name: load(BASE / name) for name in kustomization["resources"]}


def merge(base: dict, patch: dict) -> dict:
    """A strategic-merge-patch stand-in good enough for our patch: dicts merge, the rest replace."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("name", ["configmap.yaml", "deployment.yaml", "service.yaml",
                                  "hpa.yaml", "pdb.yaml", "secret.example.yaml"])
def test_core_kinds_are_valid(name):
    kubernetes_validate.validate(load(BASE / name), VERSION, strict=True)


def test_the_production_overlay_is_valid():
    overlay = load(K8S / "overlays/production/kustomization.yaml")
    assert (K8S / "overlays/production" / overlay["resources"][0] / "kustomization.yaml").exists()
    for patch in overlay["patches"]:
        patched = merge(load(BASE / "deployment.yaml"),
                        load(K8S / "overlays/production" / patch["path"]))
        kubernetes_validate.validate(patched, VERSION, strict=True)
    assert overlay["images"][0]["name"] == load(BASE / "deployment.yaml")["spec"]["template"][
        "spec"]["containers"][0]["image"].split(":")[0]


def test_every_resource_listed_exists():
    kustomization = load(BASE / "kustomization.yaml")
    for name in kustomization["resources"]:
        assert (BASE / name).exists(), name


def test_the_deployment_says_what_operations_need():
    resources = base_resources()
    deployment = resources["deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 3
    # Each probe asks what its action cures: a restart never cures a database outage, and
    # the startup probe makes a new pod wait for its database (docs/operations.md, "Probes").
    probes = {kind: container[f"{kind}Probe"]["httpGet"]["path"]
              for kind in ("liveness", "readiness", "startup")}
    assert probes == {"liveness": "/livez", "readiness": "/ready", "startup": "/health"}
    # Readiness by default: a shared database outage keeps the primed pods in the Service.
    assert resources["configmap.yaml"]["data"].get("READY_REQUIRES_STORE", "false") == "false"
    for kind in ("liveness", "readiness", "startup"):
        # A probe's answer can take up to the database ping's bound (1 s) in an outage.
        assert container[f"{kind}Probe"]["timeoutSeconds"] >= 2, kind
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    config = resources["configmap.yaml"]["data"]
    grace = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert grace == int(config["SHUTDOWN_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] >= grace + int(config["SHUTDOWN_TIMEOUT_SECONDS"])
    secret = load(BASE / "secret.example.yaml")["stringData"]
    assert set(config) | set(secret) <= set(KNOWN_VARIABLES)
    assert all("change-me" in value for key, value in secret.items() if key != "SENTRY_DSN")


def test_service_monitor_and_service_agree():
    resources = base_resources()
    monitor, service = resources["servicemonitor.yaml"], resources["service.yaml"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels.items() <= service["spec"]["selector"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"


def test_prometheus_rule_is_generated_from_alerts():
    from generate import deploy
    from generate.spec import load_context

    context = load_context()
    assert (BASE / "prometheusrule.yaml").read_text() == deploy.prometheus_rule(context), \
        "make generate"
    rule = load(BASE / "prometheusrule.yaml")
    assert rule["kind"] == "PrometheusRule" and rule["metadata"]["name"] == context.spec.name
    groups = [group for path in sorted((REPO / "alerts").glob("*.yml"))
              for group in load(path)["groups"]]
    assert rule["spec"]["groups"] == groups
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    from tests.slo.test_rules import expected_alerts

    assert alerts == expected_alerts()  # 7 with the example's auth routes, 6 without


def unwrapped(path) -> str:
    return " ".join(path.read_text().split())


def test_the_docs_say_a_pod_started_during_an_outage_restarts_until_the_database_answers():
    # The liveness probe never restarts a running pod for the database, but the startup probe
    # (/health) kills a new one that cannot reach it, after the probe's budget and then with the
    # kubelet's back-off: the texts that describe the probes say so, with the manifest's figure.
    (container,) = load(BASE / "deployment.yaml")["spec"]["template"]["spec"]["containers"]
    startup = container["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    texts = {path: unwrapped(path) for path in (
        BASE / "deployment.yaml", REPO / "docs" / "operations.md", K8S / "README.md")}
    for path, text in texts.items():
        assert "CrashLoopBackOff" in text and "never restarts a pod" not in text, path
    for path in (BASE / "deployment.yaml", REPO / "docs" / "operations.md"):
        assert f"restarted after {budget} s" in texts[path], path


def test_the_deploy_readme_says_the_alert_links_must_be_set_first():
    # Every alert's runbook_url and dashboard_url come from service.yml's links, whose defaults
    # point at an example forge and a local Grafana.
    text = unwrapped(K8S / "README.md")
    for words in ("`links` in service.yml", "`runbook_url`", "`dashboard_url`", "placeholders",
                  "`https://github.com/example-org/...`", "`http://localhost:3000`",
                  "`make generate`"):
        assert words in text, words
