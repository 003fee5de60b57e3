"""The template tested like one (docs/template.md): projects baked by the real copier with
non-default answers, with and without the example domain. In each: nothing names the template's
service, the linters pass, `make generate` derives the rules and dashboards from the project's own
service.yml and routes, promtool checks and tests those rules, the service starts and answers
/health and /metrics, and a fast subset of the project's own tests passes.

The projects run on this repository's virtualenv (the dependencies are the same), with the
project's directory first on the path, so a bake costs seconds rather than a pip install."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port, require_or_skip
from tests.service import REPO

BIN = Path(sys.executable).parent
BAKES = {
    "full": {
        "service_name": "orders-api",
        "description": "Orders for the shop",
        "availability_objective": "99.9",
        "latency_threshold_seconds": "0.5",
        "latency_objective": "95.0",
        "runbooks_url": "https://git.example.com/shop/orders-api/-/blob/main/docs/runbooks.md",
        "grafana_url": "https://grafana.example.com/shop/",
        "include_example_domain": "true",
    },
    "core": {
        "service_name": "edge-probe",
        "description": "A probe at the edge",
        "availability_objective": "99.0",
        "latency_threshold_seconds": "0.25",
        "latency_objective": "99.5",
        "include_example_domain": "false",
    },
}
# Fast and server-free: the core's own checks, configuration, the OpenAPI document, the
# generated rules (promtool), dashboards and manifests, in both variants; the example's browse
# tests where it exists.
GENERIC = ["tests/core", "tests/test_config.py", "tests/test_openapi.py", "tests/slo/test_rules.py",
           "tests/slo/test_dashboards.py", "tests/test_deploy_manifests.py",
           "tests/test_env_example.py", "tests/test_secret.py"]
FAST_SUBSET = {"full": [*GENERIC, "tests/content/test_browse.py"], "core": GENERIC}


def run(project: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "MONGO_"))}
    environ.update(PYTHONPATH=str(project), PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    return subprocess.run(args, cwd=project, capture_output=True, text=True, timeout=timeout,
                          env=environ, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout


@pytest.fixture(scope="module", params=sorted(BAKES))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:
    variant = request.param
    project = tmp_path_factory.mktemp("bake") / BAKES[variant]["service_name"]
    data = [arg for key, value in BAKES[variant].items() for arg in ("--data", f"{key}={value}")]
    ok(run(REPO, str(BIN / "copier"), "copy", "--vcs-ref", "HEAD", "--defaults", "--quiet",
           *data, str(REPO), str(project)))
    ok(run(project, str(BIN / "python"), "-m", "generate"))
    return variant, project


def project_files(project: Path) -> list[Path]:
    return [p for p in project.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_nothing_names_the_template_service(baked: tuple[str, Path]) -> None:
    variant, project = baked
    leftovers = [
        str(path.relative_to(project)) for path in project_files(project)
        if path.suffix not in {".png"} and "catalog-api" in path.read_text(errors="replace")
    ]
    # The one deliberate reference: the template's guide names its own default.
    assert leftovers == ["docs/template.md"]
    assert not [p for p in project_files(project) if p.name.endswith(".jinja")]
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["service_name"] == BAKES[variant]["service_name"]


def test_identity_and_slos_come_from_the_answers(baked: tuple[str, Path]) -> None:
    variant, project = baked
    answers = BAKES[variant]
    spec = yaml.safe_load((project / "service.yml").read_text())
    assert spec["name"] == answers["service_name"]
    assert spec["slos"]["availability"]["objective"] == float(answers["availability_objective"])
    assert spec["slos"]["latency"]["threshold_seconds"] == float(
        answers["latency_threshold_seconds"])
    identity = json.loads((project / "app" / "identity.json").read_text())
    assert identity == {"name": answers["service_name"], "description": answers["description"]}
    assert f'name = "{answers["service_name"]}"' in (project / "pyproject.toml").read_text()
    # Its own database, not the template's: two services on one cluster must not share one.
    assert f"MONGO_DB={answers['service_name']}\n" in (project / ".env.example").read_text()
    configmap = yaml.safe_load((project / "deploy/k8s/base/configmap.yaml").read_text())
    assert configmap["data"]["MONGO_DB"] == answers["service_name"]
    # Absolute links in every alert, from the answers or the defaults (copier.yml).
    runbooks = answers.get("runbooks_url", f"https://github.com/example-org/"
                           f"{answers['service_name']}/blob/main/docs/runbooks.md")
    grafana = answers.get("grafana_url", "http://localhost:3000").rstrip("/")
    assert spec["links"] == {"runbooks": runbooks,
                             "grafana": answers.get("grafana_url", "http://localhost:3000")}
    operations = yaml.safe_load((project / "alerts" / "operations.yml").read_text())
    mongo = [r for r in operations["groups"][0]["rules"] if r["alert"] == "MongoUnreachable"]
    assert mongo[0]["annotations"] == {**mongo[0]["annotations"],
                                       "runbook_url": f"{runbooks}#mongo-unreachable",
                                       "dashboard_url": f"{grafana}/d/"
                                                        f"{answers['service_name']}-mongodb"}
    slo_rules = (project / "alerts" / "slo.yml").read_text()
    assert f'job="{answers["service_name"]}"' in slo_rules
    threshold_ms = round(float(answers["latency_threshold_seconds"]) * 1000)
    assert f"slower_than_{threshold_ms}ms" in slo_rules
    example = (project / "app" / "domain" / "content").exists()
    assert example == (answers["include_example_domain"] == "true")
    assert ("/hello" in slo_rules) == (not example)
    assert ("/catalog" in slo_rules) == example


def test_copier_refuses_a_link_that_is_not_absolute(tmp_path: Path) -> None:
    """A repository-relative runbook path is no link in a pager: copier's validator says so
    before anything is written."""
    result = run(REPO, str(BIN / "copier"), "copy", "--vcs-ref", "HEAD", "--defaults", "--quiet",
                 "--data", "service_name=orders-api", "--data", "runbooks_url=docs/runbooks.md",
                 str(REPO), str(tmp_path / "orders-api"))
    assert result.returncode != 0
    assert "an absolute http(s) URL" in result.stdout + result.stderr
    assert not (tmp_path / "orders-api" / "service.yml").exists()


def test_lint(baked: tuple[str, Path]) -> None:
    _, project = baked
    ok(run(project, str(BIN / "ruff"), "check", "."))
    ok(run(project, str(BIN / "mypy"), "app", env={"MYPY_CACHE_DIR": str(project / ".mypy")}))


def test_derived_files_are_current(baked: tuple[str, Path]) -> None:
    _, project = baked
    ok(run(project, str(BIN / "python"), "-m", "generate", "--check"))


def test_promtool_checks_and_tests_the_generated_rules(baked: tuple[str, Path]) -> None:
    _, project = baked
    if shutil.which("promtool") is None:
        require_or_skip("promtool is not installed (apt-get install prometheus)")
    rules = sorted(str(p.relative_to(project)) for p in project.glob("alerts/*.yml"))
    tests = sorted(str(p.relative_to(project)) for p in project.glob("alerts/tests/*.yml"))
    assert rules and tests
    ok(run(project, "promtool", "check", "rules", *rules))
    out = ok(run(project, "promtool", "test", "rules", *tests))
    assert "SUCCESS" in out
    ok(run(project, "promtool", "check", "config", "prometheus.yml"))


def test_service_starts_and_is_observed(baked: tuple[str, Path]) -> None:
    variant, project = baked
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "MONGO_"))}
    environ.update(PYTHONPATH=str(project), PORT=str(port), HOST="127.0.0.1",
                   PYTHONDONTWRITEBYTECODE="1")
    log = project / "service.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(BIN / "python"), "-m", "app"], cwd=project, env=environ,
                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no /health 200 within 30 s"
                time.sleep(0.2)
        example_route = "/catalog" if variant == "full" else "/hello?name=probe"
        with urllib.request.urlopen(base + example_route, timeout=5) as response:
            assert response.status == 200 and response.headers["X-Request-Id"]
        with urllib.request.urlopen(base + "/openapi.json", timeout=5) as response:
            assert json.load(response)["info"]["title"] == BAKES[variant]["service_name"]
        with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
            exposition = response.read().decode()
        route = example_route.split("?")[0]
        assert f'http_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in exposition
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()
        log.unlink()


def test_fast_subset_of_its_own_tests(baked: tuple[str, Path]) -> None:
    variant, project = baked
    ok(run(project, str(BIN / "python"), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           *FAST_SUBSET[variant], timeout=600))
