"""The SLOs as code: promtool checks and unit tests, and every alert tied to a runbook."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import require_or_skip
from tests.service import REPO

ALERTS = REPO / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.yml"))
FIXED_ALERTS = {"ApiAvailabilityBudgetBurn", "ApiLatencyBudgetBurn", "HealthEndpointErrors",
                "MongoUnreachable", "RefreshTokenReuseSpike", "RateLimitHerd", "ApiInstanceDown"}
# The dashboard (dashboards/*.json) that shows each alert.
DASHBOARD_OF = {"ApiAvailabilityBudgetBurn": "slo.json", "ApiLatencyBudgetBurn": "slo.json",
                "MongoUnreachable": "mongodb.json", "RefreshTokenReuseSpike": "security.json",
                "RateLimitHerd": "security.json", "HealthEndpointErrors": "api-overview.json",
                "ApiInstanceDown": "api-overview.json"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        require_or_skip("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(["promtool", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def rules() -> list[dict]:
    return [rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]]


def test_promtool_check_rules():
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", sorted((ALERTS / "tests").glob("*.yml")), ids=lambda p: p.name)
def test_promtool_test_rules(path: Path):
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def expected_alerts() -> set[str]:
    """The generator's rule: refresh-token reuse is watched where routes tagged `auth` are
    registered (not in a core service)."""
    from generate.spec import load_context

    return FIXED_ALERTS if load_context().has_auth else FIXED_ALERTS - {"RefreshTokenReuseSpike"}


def test_the_fixed_alerts_exist_and_are_all_unit_tested():
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts == expected_alerts()
    tested = "".join(path.read_text() for path in (ALERTS / "tests").glob("*.yml"))
    for alert in alerts:
        assert f"alertname: {alert}" in tested, alert


def test_every_recording_rule_is_read():
    """By an alert, another rule or a dashboard: a rule nobody reads is dead weight."""
    dashboards = "".join(path.read_text() for path in (REPO / "dashboards").glob("*.json"))
    for name in (rule["record"] for rule in rules() if "record" in rule):
        others = "".join(str(rule["expr"]) for rule in rules() if rule.get("record") != name)
        assert name in others or name in dashboards, name


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^a-z0-9 -]", "", title.strip().lower()).replace(" ", "-")
            for title in re.findall(r"^#{2,3} (.+)$", markdown, flags=re.MULTILINE)}


def test_every_alert_has_summary_description_and_an_existing_runbook_section():
    sections = anchors((REPO / "docs" / "runbooks.md").read_text())
    for rule in (rule for rule in rules() if "alert" in rule):
        annotations = rule["annotations"]
        assert annotations["summary"] and "{{" in annotations["description"], rule["alert"]
        url = urlsplit(annotations["runbook_url"])
        assert url.path.endswith("/docs/runbooks.md"), rule["alert"]
        assert url.fragment in sections, (rule["alert"], url.fragment)
        assert rule["labels"]["severity"] in {"page", "ticket"}


def test_every_alert_links_its_runbook_and_its_dashboard_absolutely():
    """A page is read in a pager, chat or Alertmanager: both links must open from there, the
    dashboard one on the dashboard that shows the alert."""
    from generate.spec import load_spec

    links = load_spec().links
    uids = {json.loads(path.read_text())["uid"]: path.name
            for path in (REPO / "dashboards").glob("*.json")}
    for rule in (rule for rule in rules() if "alert" in rule):
        alert, annotations = rule["alert"], rule["annotations"]
        for key in ("runbook_url", "dashboard_url"):
            url = urlsplit(annotations[key])
            assert url.scheme in ("http", "https") and url.netloc, (alert, key)
        assert annotations["runbook_url"].startswith(links.runbooks + "#"), alert
        base, _, uid = annotations["dashboard_url"].rpartition("/d/")
        assert base == links.grafana and uid in uids, (alert, annotations["dashboard_url"])
        assert uids[uid] == DASHBOARD_OF[alert], alert
