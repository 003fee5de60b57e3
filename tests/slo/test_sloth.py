"""slo/sloth.yml is a valid Sloth spec: Sloth's own CLI (tests/sloth/build.sh, v0.16.0) validates
it and generates Prometheus rules from it that promtool accepts."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from generate.spec import load_spec
from tests.conftest import require_or_skip
from tests.service import REPO

SPEC = REPO / "slo" / "sloth.yml"


@pytest.fixture(scope="module")
def sloth() -> str:
    binary = os.environ.get("SLOTH_BIN")
    if not binary:
        require_or_skip("SLOTH_BIN is not set: `make test` builds Sloth with Go "
                        "(tests/sloth/build.sh)")
    return binary


def run(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args, "--no-color"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_sloth_validates_the_spec(sloth):
    result = run(sloth, "validate", "-i", str(SPEC),
                 f"--default-slo-period={load_spec().window}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation succeeded" in result.stderr + result.stdout


def test_sloth_generates_rules_with_our_alert_names(sloth, tmp_path):
    out = tmp_path / "rules.yml"
    result = run(sloth, "generate", "-i", str(SPEC), "-o", str(out),
                 f"--default-slo-period={load_spec().window}")
    assert result.returncode == 0, result.stdout + result.stderr
    groups = yaml.safe_load(out.read_text())["groups"]
    alerts = {(rule["alert"], rule["labels"]["severity"]) for group in groups
              for rule in group["rules"] if "alert" in rule}
    assert alerts == {(name, severity) for name in ("ApiAvailabilityBudgetBurn",
                                                    "ApiLatencyBudgetBurn")
                      for severity in ("page", "ticket")}
    records = {rule["record"] for group in groups for rule in group["rules"]
               if "record" in rule}
    assert "slo:sli_error:ratio_rate5m" in records
    if shutil.which("promtool") is not None:
        checked = subprocess.run(["promtool", "check", "rules", str(out)], capture_output=True,
                                 text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
