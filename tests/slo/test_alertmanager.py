"""alertmanager.yml: amtool checks it and routes every generated alert to the receiver its
severity names; a real Alertmanager shows one outage as one page and the burn-rate pages
inhibited while MongoUnreachable names their cause, and only while it does.

The alerts' label sets are the ones promtool saw the rules fire with (the `exp_labels` of
alerts/tests/*.yml), so a new alert or label is covered without editing this file."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port, require_or_skip
from tests.helpers import wait_until
from tests.service import REPO

CONFIG = REPO / "alertmanager.yml"
RECEIVER = {"page": "pager", "ticket": "tickets"}
BURNS = ("ApiAvailabilityBudgetBurn", "ApiLatencyBudgetBurn")


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("amtool") is None:
        require_or_skip("amtool is not installed (apt-get install prometheus-alertmanager)")
    return subprocess.run(["amtool", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def rule_alerts() -> set[tuple[str, str]]:
    """(alert name, severity) of every alert rule in alerts/*.yml."""
    return {(rule["alert"], rule["labels"]["severity"])
            for path in sorted((REPO / "alerts").glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


def fired_label_sets() -> dict[tuple[str, str], dict[str, str]]:
    """(alert name, severity) -> the labels the alert fires with, from the promtool tests."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for path in sorted((REPO / "alerts" / "tests").glob("*.yml")):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case["exp_alerts"]:
                    labels = {"alertname": case["alertname"], **alert["exp_labels"]}
                    out.setdefault((case["alertname"], labels["severity"]), labels)
    return out


def test_amtool_checks_the_config():
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_every_generated_alert_reaches_the_receiver_its_severity_names():
    labels = fired_label_sets()
    alerts = rule_alerts()
    assert alerts and alerts <= set(labels), "an alert without a promtool case"
    routed = {}
    for key in sorted(alerts):
        args = [f"{name}={value}" for name, value in labels[key].items()]
        result = amtool("config", "routes", "test", f"--config.file={CONFIG}",
                        f"--verify.receivers={RECEIVER[key[1]]}", *args)
        routed[key] = (result.stdout.strip().splitlines() or [""])[-1]
        assert result.returncode == 0, (key, result.stdout + result.stderr)
    assert routed == {key: RECEIVER[key[1]] for key in alerts}


class Alertmanager:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path, method="GET" if body is None else "POST",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read()
            return json.loads(text) if text else None

    def fire(self, *label_sets: dict[str, str]) -> None:
        now = datetime.now(UTC)
        self.call("/api/v2/alerts", [{"labels": labels, "startsAt": now.isoformat(),
                                      "endsAt": (now + timedelta(hours=1)).isoformat()}
                                     for labels in label_sets])

    def resolve(self, labels: dict[str, str]) -> None:
        now = datetime.now(UTC)
        self.call("/api/v2/alerts", [{"labels": labels,
                                      "startsAt": (now - timedelta(minutes=5)).isoformat(),
                                      "endsAt": (now - timedelta(seconds=1)).isoformat()}])

    def alerts(self) -> list[dict[str, Any]]:
        return self.call("/api/v2/alerts")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """Alertmanager on loopback with this repository's alertmanager.yml, alone (no cluster)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        require_or_skip("Alertmanager is not installed (apt-get install prometheus-alertmanager)")
    port = free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={CONFIG}", f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    manager = Alertmanager(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return manager.call("/api/v2/status")["cluster"]["status"] == "disabled"
        except OSError:
            return False

    try:
        wait_until(ready, 20, "Alertmanager to answer")
        yield manager
    finally:
        process.terminate()
        process.wait(timeout=10)


def state(manager: Alertmanager, labels: dict[str, str]) -> dict[str, Any]:
    (alert,) = [a for a in manager.alerts() if a["labels"] == labels]
    return alert


def test_one_outage_is_one_page_and_a_security_page_stays_apart(alertmanager):
    labels = fired_label_sets()
    pages = [labels[key] for key in sorted(labels) if key[1] == "page"]
    mongo = labels[("MongoUnreachable", "page")]
    alertmanager.fire(*pages, {**mongo, "instance": "b:8080"},
                      *[labels[key] for key in sorted(labels) if key[1] == "ticket"])

    def groups() -> list[dict[str, Any]] | None:
        found = alertmanager.call("/api/v2/alerts/groups")
        count = sum(len(group["alerts"]) for group in found)
        return found if count == len(labels) + 1 else None

    by_receiver: dict[str, list[tuple[dict[str, str], set[str]]]] = {}
    for group in wait_until(groups, 20, "every alert in a group"):
        by_receiver.setdefault(group["receiver"]["name"], []).append(
            (group["labels"], {a["labels"]["alertname"] for a in group["alerts"]}))
    job = mongo["job"]
    security = {"RefreshTokenReuseSpike"} & {name for name, _ in labels}
    outage = {name for name, severity in labels if severity == "page"} - security
    assert {"MongoUnreachable", *BURNS, "ApiInstanceDown"} <= outage
    expected_pages = [({"job": job}, outage)] + [
        ({"alertname": name, "job": job}, {name}) for name in sorted(security)]
    assert sorted(by_receiver["pager"], key=str) == sorted(expected_pages, key=str)
    # Tickets: one group per alert.
    assert sorted(by_receiver["tickets"], key=str) == sorted(
        [({"alertname": name, "job": job}, {name})
         for name, severity in labels if severity == "ticket"], key=str)


def test_mongo_unreachable_holds_back_the_burn_pages_only_while_it_fires(alertmanager):
    labels = fired_label_sets()
    mongo = labels[("MongoUnreachable", "page")]
    burn_pages = [labels[(name, "page")] for name in BURNS]
    burn_ticket = labels[(BURNS[0], "ticket")]
    # Not inhibited: another service's burn, and pages of other causes on this service.
    elsewhere = {**burn_pages[0], "job": "another-api"}
    others = [labels[key] for key in sorted(labels)
              if key[1] == "page" and key[0] not in {*BURNS, "MongoUnreachable"}]
    alertmanager.fire(mongo, *burn_pages, burn_ticket, elsewhere, *others)

    def inhibited() -> dict[str, Any] | None:
        source = state(alertmanager, mongo)
        targets = [state(alertmanager, labels) for labels in (*burn_pages, burn_ticket)]
        done = all(t["status"]["state"] == "suppressed" for t in targets)
        return {"source": source, "targets": targets} if done else None

    seen = wait_until(inhibited, 20, "the burn-rate alerts to be inhibited")
    assert seen["source"]["status"]["state"] == "active"
    # (Alertmanager names the first rule's source: the ticket's is its page, also held back.)
    for target in seen["targets"][:len(burn_pages)]:
        assert target["status"]["inhibitedBy"] == [seen["source"]["fingerprint"]], target
    for labels_ in (elsewhere, *others):
        status = state(alertmanager, labels_)["status"]
        assert status["state"] == "active" and not status["inhibitedBy"], labels_

    # MongoDB is back but the budget still burns (another cause): the pages notify now. The
    # ticket stays quiet behind its own page.
    alertmanager.resolve(mongo)
    wait_until(lambda: all(state(alertmanager, p)["status"]["state"] == "active"
                           for p in burn_pages), 20, "the burn pages to be active again")
    ticket = state(alertmanager, burn_ticket)["status"]
    page_fingerprint = state(alertmanager, burn_pages[0])["fingerprint"]
    assert ticket["state"] == "suppressed" and ticket["inhibitedBy"] == [page_fingerprint]


def test_an_outage_in_another_cluster_or_namespace_holds_back_nothing_here(alertmanager):
    # One Alertmanager for several clusters (Prometheus's `cluster` external label) or
    # namespaces (the operator's enforced `namespace` label): staging's MongoUnreachable, or
    # its burn page, must not mute production's pages or tickets of the same job.
    labels = fired_label_sets()
    mongo = labels[("MongoUnreachable", "page")]
    burn, ticket = labels[(BURNS[0], "page")], labels[(BURNS[0], "ticket")]
    staging = [{"cluster": "staging"}, {"namespace": "catalog-staging"}]
    production = [{"cluster": "production"}, {"namespace": "catalog"}]
    # (Tickets where no page of their own burns, so only staging's page could mute them.)
    quiet = [{"cluster": "production-eu"}, {"namespace": "catalog-eu"}]
    alertmanager.fire(*[{**mongo, **where} for where in staging],
                      *[{**burn, **where} for where in staging + production],
                      *[{**ticket, **where} for where in quiet])

    # Where the labels are equal, the inhibition holds (so the check below is not vacuous).
    wait_until(lambda: all(state(alertmanager, {**burn, **where})["status"]["state"]
                           == "suppressed" for where in staging), 20,
               "staging's burn pages to be held back by staging's MongoUnreachable")
    for alert in [{**burn, **where} for where in production] + [
            {**ticket, **where} for where in quiet]:
        status = state(alertmanager, alert)["status"]
        assert status["state"] == "active" and not status["inhibitedBy"], alert


def test_the_runbook_says_what_to_do_when_one_instance_holds_the_burn_pages_back():
    # MongoUnreachable on one instance holds back the job's burn pages for as long as it fires:
    # its runbook section says to replace that instance, with a command the docs tests check.
    from tests.docs.harness import parse

    text = (REPO / "docs" / "runbooks.md").read_text()
    commands = [c.text for c in parse("docs/runbooks.md", text)
                if c.section == "mongo-unreachable" and c.kind == "kubectl"]
    assert any(" delete pod POD" in command for command in commands), commands
    section = text.split("## Mongo unreachable", 1)[1].split("\n## ", 1)[0]
    assert "held back" in section and "Only one instance" in section
