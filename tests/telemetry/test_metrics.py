"""/metrics, scraped: the fixed names, route templates, bounded labels, exemplars."""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings

DESIGN_METRICS = {
    "http_requests_total", "http_request_duration_seconds", "http_requests_in_flight",
    "mongo_command_duration_seconds", "catalog_cache_requests_total", "auth_events_total",
    "ratelimit_rejections_total", "app_dependency_up", "app_build_info",
}


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
async def client(aiohttp_client, mongo_settings):
    settings = make_settings(
        MONGO_URI=mongo_settings.mongo_uri.reveal(), MONGO_DB=mongo_settings.mongo_db,
        AUTH_ALLOW_SELF_REGISTRATION="true", RATE_LIMIT_AUTH_PER_MINUTE="3",
        DEPENDENCY_PING_SECONDS="0.1",
    )
    return await aiohttp_client(create_app(settings))


async def test_every_design_metric_after_the_traffic_that_makes_it(client):
    await client.get("/catalog")
    await client.get("/content")
    await client.post("/auth/register", json={"email": "m@example.org", "password": PASSWORD})
    for _ in range(3):
        await client.post("/auth/login", json={"email": "m@example.org", "password": "wrong!!"})
    text = await scrape(client)
    found = samples(text)
    for name in DESIGN_METRICS:
        assert any(key == name or key.startswith(name + "_") for key in found), name
    assert "process_resident_memory_bytes" in found  # process metrics stay on

    labels = {tuple(sorted(s.labels.items())) for s in found["http_requests_total"]}
    assert (("method", "GET"), ("route", "/content"), ("status", "200")) in labels
    assert all(dict(label)["route"] != "/metrics" for label in labels)
    assert {s.labels["event"] for s in found["auth_events_total"]} >= {
        "registered", "login_failure"}
    rejections = {s.labels["scope"]: s.value for s in found["ratelimit_rejections_total"]
                  if s.name.endswith("_total")}
    assert rejections.keys() == {"ip", "user", "account"} and rejections["ip"] >= 1
    assert {s.labels["result"]: s.value for s in found["catalog_cache_requests_total"]}["hit"] >= 1
    assert {s.labels["outcome"] for s in found["mongo_command_duration_seconds_count"]} >= {"ok"}
    assert found["app_dependency_up"][0].value == 1
    build = found["app_build_info"][0]
    assert build.value == 1 and set(build.labels) == {"version", "commit"}


async def test_the_slo_bucket_exists(client):
    await client.get("/catalog")
    text = await scrape(client)
    assert re.search(r'http_request_duration_seconds_bucket\{[^}]*le="0.3"[^}]*route="/catalog"',
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
        await client.request(method, "/catalog")
    text = await scrape(client)
    assert 'method="OTHER"' in text and "FOO" not in text


async def test_openmetrics_when_asked(client):
    await client.get("/catalog")
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.text()).rstrip().endswith("# EOF")


async def test_the_slo_series_exist_at_zero_before_any_request(aiohttp_client, settings):
    from app.web.app import create_app

    client = await aiohttp_client(create_app(settings))
    found = samples(await scrape(client))
    counts = {(s.labels["route"], s.labels["status"]): s.value
              for s in found["http_requests_total"]}
    assert counts[("/catalog", "500")] == 0 and counts[("/catalog", "200")] == 0
    assert counts[("/content/{id}", "503")] == 0
    buckets = [s for s in found["http_request_duration_seconds_bucket"]
               if s.labels["route"] == "/content" and s.labels["le"] == "0.3"]
    assert buckets and buckets[0].value == 0
