"""End to end: the real service on FerretDB, scraped by a real Prometheus that evaluates the real
rules. Every recording rule and every dashboard query returns data for the traffic driven, and
a fast alert goes pending when provoked."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from generate.spec import load_spec
from tests.auth.conftest import PASSWORD
from tests.conftest import require_or_skip
from tests.helpers import call, wait_until
from tests.mongo_server import FerretDB
from tests.prometheus_server import Prometheus
from tests.service import REPO, ServiceProcess

_spec = importlib.util.spec_from_file_location("render", REPO / "dashboards" / "render.py")
_render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_render)
render = _render.render

pytestmark = pytest.mark.timeout(180)
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "1s"}


def drive_traffic(base: str, email: str) -> tuple[list[int], str]:
    """Successes, 404s, slow requests, 500s, a refresh reuse, failed logins; the statuses of
    the logins (the auth limit turns them into 429s), and an access token."""
    for path in ("/catalog", "/content", "/meta", "/content/01H00000000000000000000000",
                 "/nope", "/__test__/slow?seconds=0.35", "/__test__/boom", "/health", "/ready"):
        for _ in range(3):
            call(base + path)
    status, body = call(base + "/auth/register", "POST", {"email": email, "password": PASSWORD})
    assert status == 201, body
    refresh = body["data"]["refreshToken"]
    call(base + "/me", headers={"Authorization": f"Bearer {body['data']['accessToken']}"})
    call(base + "/auth/refresh", "POST", {"refreshToken": refresh})
    status, _ = call(base + "/auth/refresh", "POST", {"refreshToken": refresh})  # reuse
    assert status == 401
    return [call(base + "/auth/login", "POST",
                  {"email": email, "password": "not the password"})[0] for _ in range(6)], \
        body["data"]["accessToken"]


def dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in sorted((REPO / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                queries.append((f"{path.stem} / {panel['title']}", expr))
    return queries


def test_prometheus_scrapes_the_service_and_every_rule_and_panel_has_data(mongo_server, tmp_path):
    if shutil.which("prometheus") is None:
        require_or_skip("Prometheus is not installed (apt-get install prometheus)")
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("kills its database to provoke an alert: needs FerretDB, not MONGO_TEST_URI")
    database = FerretDB(mongo_server.binary)
    database.start()
    service = ServiceProcess(
        APP_ENV="test", MONGO_URI=database.uri, MONGO_DB="e2e", MONGO_TIMEOUT_MS="500",
        AUTH_ALLOW_SELF_REGISTRATION="true", RATE_LIMIT_AUTH_PER_MINUTE="12",
        DEPENDENCY_PING_SECONDS="0.5",
    )
    prometheus = Prometheus([f"127.0.0.1:{service.port}"])
    try:
        service.start()
        prometheus.start()
        wait_until(lambda: [t["health"] for t in prometheus.api("targets")["activeTargets"]]
                   == ["up"], 15, "the service to be scraped")
        # Twice, scrapes apart: a series is born on its first scrape, and rate() needs it to
        # grow after that.
        logins, access = drive_traffic(service.url, "first@example.org")
        time.sleep(2.5)
        logins += drive_traffic(service.url, "second@example.org")[0]
        assert 401 in logins and 429 in logins
        time.sleep(3)

        recorded = [rule["name"] for group in prometheus.api("rules")["groups"]
                    for rule in group["rules"] if rule["type"] == "recording"]
        assert len(recorded) == 14
        wait_until(lambda: all(prometheus.query(name) for name in recorded), 20,
                   "every recording rule to have a value")
        # The 500s of /__test__/boom (a test-only route, in no SLO) do not count: so far the
        # availability SLI is 0.
        (sample,) = prometheus.query("job:slo_errors_per_request:ratio_rate5m")
        assert float(sample["value"][1]) == 0

        empty = [(panel, expr) for panel, expr in dashboard_queries()
                 if not wait_until(lambda e=expr: prometheus.query(e) or None, 10, expr)]
        assert not empty

        # The picture: the main panels rendered from this Prometheus (RENDER_DASHBOARDS_DIR keeps
        # them to look at; the README's pictures come from `make demo`).
        out = Path(os.environ.get("RENDER_DASHBOARDS_DIR") or tmp_path)
        images = render(prometheus.url, out, minutes=0.5, rate="5s")
        assert [image.name for image in images] == ["slo.png", "api-overview.png"]
        assert all(image.stat().st_size > 10_000 for image in images)

        # Provoke a fast alert: the database goes away, the background ping says so.
        database.kill()
        alert = wait_until(
            lambda: [a for a in prometheus.api("alerts")["alerts"]
                     if a["labels"]["alertname"] == "MongoUnreachable"], 20,
            "MongoUnreachable to go pending")
        assert alert[0]["state"] in ("pending", "firing")
        annotations = alert[0]["annotations"]
        assert annotations["runbook_url"] == load_spec().links.runbook("mongo-unreachable")
        assert annotations["dashboard_url"].endswith("-mongodb")
        # The probes said 503, never 500: no HealthEndpointErrors.
        assert not [a for a in prometheus.api("alerts")["alerts"]
                    if a["labels"]["alertname"] == "HealthEndpointErrors"]

        # A route that needs the database now answers 503, and the availability SLI counts it
        # (the probes' 503s would not).
        def error_ratio() -> float | None:
            status, _ = call(service.url + "/me", headers={"Authorization": f"Bearer {access}"})
            assert status == 503
            (sample,) = prometheus.query("job:slo_errors_per_request:ratio_rate5m")
            value = float(sample["value"][1])
            return value if 0 < value < 1 else None

        wait_until(error_ratio, 20, "the availability SLI to count the 503s")
    except BaseException:
        print(prometheus.log()[-3000:])
        raise
    finally:
        prometheus.stop()
        service.stop()
        database.close()
