"""The observed core on its own: the app built with the core-only features (`app.features_core`,
one example route) serves `/hello` in the envelope, refuses a bad name with the error envelope,
answers `/health` and `/ready` on the memory database, counts `/hello` in the metrics and lists
it in the OpenAPI document. Nothing here imports the example domain; the architecture test
(test_architecture.py) proves the core does not either."""

from __future__ import annotations

import re

import pytest

from app.store.memory_database import MemoryDatabase
from app.web.app import create_app
from app.web.keys import STORE
from tests.conftest import make_settings
from tests.helpers import core_features
from tests.test_errors import assert_envelope

GENERATED = re.compile(r"req_[0-9A-HJKMNP-TV-Z]{26}")


@pytest.fixture
async def client(aiohttp_client):
    return await aiohttp_client(create_app(make_settings(), features=core_features()))


async def test_hello_answers_in_the_envelope_with_the_request_id(client):
    response = await client.get("/hello", params={"name": "Ada Lovelace"})
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert body == {"data": {"greeting": "hello, Ada Lovelace"},
                    "meta": {"requestId": response.headers["X-Request-Id"]}}
    assert GENERATED.fullmatch(body["meta"]["requestId"])
    assert (await (await client.get("/hello")).json())["data"] == {"greeting": "hello, world"}


async def test_a_client_request_id_is_echoed(client):
    response = await client.get("/hello", headers={"X-Request-Id": "trace-me.1"})
    assert response.headers["X-Request-Id"] == "trace-me.1"
    assert (await response.json())["meta"]["requestId"] == "trace-me.1"


@pytest.mark.parametrize("name", ["x" * 65, "", " Ada", "Ada  Lovelace", "Ada\nLovelace",
                                  "Ada\x7fL"])
async def test_a_bad_name_is_400_in_the_error_envelope(client, name):
    response = await client.get("/hello", params={"name": name})
    body = await assert_envelope(response, 400, "validation.failed")
    assert [detail["field"] for detail in body["error"]["details"]] == ["name"]
    assert name.strip() == "" or name.strip() not in await response.text()  # never echoed


async def test_health_and_ready_on_the_memory_database(client):
    assert isinstance(client.app[STORE], MemoryDatabase)
    health = await client.get("/health")
    assert health.status == 200
    assert (await health.json())["data"] == {"status": "ok", "checks": {"store": "ok"}}
    ready = await client.get("/ready")
    assert ready.status == 200
    # No catalog to prime: the core's checks only.
    assert (await ready.json())["data"]["checks"] == {"draining": "ok", "store": "ok"}


async def test_metrics_count_hello_by_its_route(client):
    for _ in range(3):
        await client.get("/hello")
    await client.get("/hello", params={"name": ""})
    text = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/hello",status="200"} 3.0' in text
    assert 'http_requests_total{method="GET",route="/hello",status="400"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.3",method="GET",route="/hello"}' in text


async def test_an_unknown_path_is_a_404_envelope(client):
    response = await client.get("/no/such/route")
    await assert_envelope(response, 404, "resource.not_found")
    assert GENERATED.fullmatch(response.headers["X-Request-Id"])


async def test_the_openapi_document_lists_hello_and_the_core(client):
    document = await (await client.get("/openapi.json")).json()
    assert set(document["paths"]) == {"/hello", "/livez", "/health", "/ready", "/metrics",
                                       "/openapi.json"}
    hello = document["paths"]["/hello"]["get"]
    assert {"200", "400"} <= set(hello["responses"])
    assert [p["name"] for p in hello["parameters"] if p.get("in") == "query"] == ["name"]


async def test_no_one_is_authenticated_and_every_caller_is_limited_by_address(aiohttp_client):
    app = create_app(make_settings(RATE_LIMIT_ANON_PER_MINUTE="2"), features=core_features())
    client = await aiohttp_client(app)
    token = {"Authorization": "Bearer not-checked-by-anyone"}
    statuses = [(await client.get("/hello", headers=token)).status for _ in range(3)]
    assert statuses == [200, 200, 429]
