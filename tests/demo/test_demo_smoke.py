"""`make demo` at the smoke scale (seconds per phase, every alerting duration divided by 120):
every phase runs, the report and its pictures exist, the time-compressed rules and Alertmanager
configuration pass promtool and amtool with their thresholds untouched, the failed request the
report names is in the access log, the spans and the exemplar (and Sentry when it says so), and
no process the demo started is left running."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from demo.run import leftovers
from tests.conftest import require_or_skip
from tests.service import REPO

pytestmark = pytest.mark.timeout(180)
PHASES = ("starting", "warming up", "incident: slow", "incident: down", "recovering",
          "rendering", "done")
RANGE = re.compile(r"\[[0-9smhdwy]+(:[0-9smhdwy]*)?\]|\bfor: \S+")


def _tools() -> dict[str, str]:
    for binary, package in (("prometheus", "prometheus"), ("promtool", "prometheus"),
                            ("amtool", "prometheus-alertmanager"),
                            ("prometheus-alertmanager", "prometheus-alertmanager")):
        if shutil.which(binary) is None:
            require_or_skip(f"{binary} is not installed (apt-get install {package})")
    env = {}
    for name in ("FERRETDB_BIN", "TOXIPROXY_BIN"):
        if os.environ.get(name):
            env[name] = os.environ[name]
        elif shutil.which("go") is None:
            require_or_skip(f"{name} is unset and Go is missing to build it")
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = {**os.environ, **_tools()}
    out = tmp_path_factory.mktemp("demo") / "report"
    result = subprocess.run([sys.executable, "-m", "demo", "--scale", "smoke", "--out", str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, out


def test_every_phase_runs_and_the_report_exists(demo):
    result, out = demo
    for phase in PHASES:  # printed as `[m:ss] == phase: what it does`
        assert f"] == {phase}" in result.stdout, (phase, result.stdout)
    report = (out / "report.md").read_text()
    for name in ("slo.png", "api-overview.png", "mongodb.png", "security.png"):
        assert (out / name).stat().st_size > 10_000
        assert f"]({name})" in report
    timeline = json.loads((out / "timeline.json").read_text())
    assert timeline["episodes"], "no alert went pending during the incident"
    assert "time compression" in report.lower() and "thresholds unchanged" in report


def test_the_compressed_rules_check_and_keep_their_thresholds(demo):
    _, out = demo
    scaled = sorted((out / "config" / "alerts").glob("*.yml"))
    assert [path.name for path in scaled] == sorted(p.name for p in (REPO / "alerts").glob("*.yml"))
    checked = subprocess.run(["promtool", "check", "rules", *map(str, scaled)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for path in scaled:
        original = yaml.safe_load((REPO / "alerts" / path.name).read_text())
        compressed = yaml.safe_load(path.read_text())
        pairs = [(a, b) for ga, gb in zip(original["groups"], compressed["groups"], strict=True)
                 for a, b in zip(ga["rules"], gb["rules"], strict=True)]
        for before, after in pairs:
            assert before.get("alert") == after.get("alert")
            assert before.get("record") == after.get("record")
            assert before.get("labels") == after.get("labels")
            # Only the durations differ: everything else, thresholds included, is as generated.
            assert RANGE.sub("D", before["expr"]) == RANGE.sub("D", after["expr"])
            assert ("for" in before) == ("for" in after)
    config = out / "config" / "alertmanager.yml"
    checked = subprocess.run(["amtool", "check-config", str(config)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ours, theirs = yaml.safe_load(config.read_text()), yaml.safe_load(
        (REPO / "alertmanager.yml").read_text())
    assert ours["inhibit_rules"] == theirs["inhibit_rules"]
    assert ours["route"]["group_wait"] == "250ms"  # 30s / 120


def test_the_named_request_is_in_every_signal(demo):
    _, out = demo
    followed = json.loads((out / "request.json").read_text())
    request_id, trace_id = followed["requestId"], followed["traceId"]
    assert request_id in (out / "report.md").read_text()
    access = [json.loads(line) for line in (out / "service.log").read_text().splitlines()
              if request_id in line and '"request.completed"' in line]
    assert len(access) == 1 and access[0]["statusCode"] >= 500
    assert access[0]["traceId"] == trace_id
    spans = [json.loads(line) for line in (out / "spans.jsonl").read_text().splitlines()]
    (span,) = [s for s in spans if s["attributes"].get("request.id") == request_id]
    assert span["trace_id"] == trace_id
    assert followed["exemplar"]["traceId"] == trace_id
    if followed["sentryEvents"]:
        events = [json.loads(line) for line in (out / "sentry.jsonl").read_text().splitlines()]
        assert any(e.get("tags", {}).get("request_id") == request_id for e in events)


def test_nothing_is_left_running(demo):
    _, out = demo
    processes = json.loads((out / "processes.json").read_text())
    names = {process["name"] for process in processes}
    assert {"ferretdb", "toxiproxy", "alertmanager", "service", "prometheus",
            "traffic"} <= names
    assert leftovers(processes) == []
