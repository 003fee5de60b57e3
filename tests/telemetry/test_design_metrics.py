"""Every metric DESIGN.md names, after the example domain's traffic that makes it; the example's
SLO series present from the start."""

import pytest

from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.telemetry.test_metrics import samples, scrape

DESIGN_METRICS = {
    "http_requests_total", "http_request_duration_seconds", "http_requests_in_flight",
    "mongo_command_duration_seconds", "catalog_cache_requests_total", "auth_events_total",
    "ratelimit_rejections_total", "app_dependency_up", "app_build_info",
}


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


async def test_the_slo_series_exist_at_zero_before_any_request(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    found = samples(await scrape(client))
    counts = {(s.labels["route"], s.labels["status"]): s.value
              for s in found["http_requests_total"]}
    assert counts[("/catalog", "500")] == 0 and counts[("/catalog", "200")] == 0
    assert counts[("/content/{id}", "503")] == 0
    buckets = [s for s in found["http_request_duration_seconds_bucket"]
               if s.labels["route"] == "/content" and s.labels["le"] == "0.3"]
    assert buckets and buckets[0].value == 0
