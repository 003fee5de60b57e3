"""/metrics, scraped, on the core-only app: route templates, bounded labels, OpenMetrics, the SLO
series present from the start. (Every metric DESIGN.md names, after the example domain's traffic
that makes it: tests/telemetry/test_design_metrics.py.)"""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.web.app import create_app
from tests.conftest import make_settings
from tests.helpers import core_features


async def scrape(client, accept: str = "") -> str:
    response = await client.get("/metrics", headers={"Accept": accept} if accept else {})
    assert response.status == 200
    return await response.text()


def samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


@pytest.fixture
async def client(aiohttp_client):
    return await aiohttp_client(create_app(make_settings(), features=core_features()))


async def test_the_core_metrics_after_traffic(client):
    await client.get("/hello")
    await client.get("/hello", params={"name": ""})
    found = samples(await scrape(client))
    for name in ("http_requests_total", "http_request_duration_seconds",
                 "http_requests_in_flight", "app_dependency_up", "app_build_info",
                 "process_resident_memory_bytes"):
        assert any(key == name or key.startswith(name + "_") for key in found), name
    labels = {tuple(sorted(s.labels.items())) for s in found["http_requests_total"] if s.value}
    assert {(("method", "GET"), ("route", "/hello"), ("status", "200")),
            (("method", "GET"), ("route", "/hello"), ("status", "400"))} <= labels
    assert all(dict(label)["route"] != "/metrics" for label in labels)
    assert found["app_dependency_up"][0].value == 1
    build = found["app_build_info"][0]
    assert build.value == 1 and set(build.labels) == {"version", "commit"}


async def test_the_slo_bucket_exists(client):
    await client.get("/hello")
    text = await scrape(client)
    assert re.search(r'http_request_duration_seconds_bucket\{[^}]*le="0.3"[^}]*route="/hello"',
                     text)


async def test_a_scanner_adds_no_series(client):
    for n in range(10):
        await client.get(f"/probe-{n}")
    before = series_count(await scrape(client))
    for n in range(1000):
        await client.get(f"/wp-admin/{n}/x.php?id={n}")
    after_text = await scrape(client)
    assert series_count(after_text) == before
    assert 'route="__unmatched__",status="404"' in after_text
    assert "wp-admin" not in after_text


async def test_unknown_methods_fold_into_other(client):
    for method in ("FOO", "BAR", "PROPFIND"):
        await client.request(method, "/hello")
    text = await scrape(client)
    assert 'method="OTHER"' in text and "FOO" not in text


async def test_openmetrics_when_asked(client):
    await client.get("/hello")
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.text()).rstrip().endswith("# EOF")


async def test_the_slo_series_exist_at_zero_before_any_request(client):
    found = samples(await scrape(client))
    counts = {(s.labels["route"], s.labels["status"]): s.value
              for s in found["http_requests_total"]}
    assert counts[("/hello", "500")] == 0 and counts[("/hello", "200")] == 0
    buckets = [s for s in found["http_request_duration_seconds_bucket"]
               if s.labels["route"] == "/hello" and s.labels["le"] == "0.3"]
    assert buckets and buckets[0].value == 0
