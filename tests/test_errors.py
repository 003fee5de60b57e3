"""Every failure leaves as the JSON envelope with its fixed code and the request id."""

import pytest

from app.web.app import create_app
from tests.conftest import make_settings


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status == status
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    assert body["meta"]["requestId"] == response.headers["X-Request-Id"]
    return body


async def test_unknown_route_is_404(client):
    await assert_envelope(await client.get("/does/not/exist"), 404, "resource.not_found")


async def test_wrong_method_is_405_with_allow(client):
    response = await client.delete("/health")
    await assert_envelope(response, 405, "method.not_allowed")
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"a": }', b"\xff\xfe"])
async def test_malformed_json_is_400(client, body):
    response = await client.post(
        "/__test__/echo", data=body, headers={"Content-Type": "application/json"}
    )
    await assert_envelope(response, 400, "request.malformed_json")


async def test_well_formed_json_passes(client):
    response = await client.post("/__test__/echo", json={"a": [1, 2]})
    assert response.status == 200
    assert (await response.json())["data"] == {"a": [1, 2]}


async def test_body_over_limit_is_413(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(MAX_BODY_BYTES="2048")))
    response = await client.post(
        "/__test__/echo", data=b'"' + b"x" * 4096 + b'"',
        headers={"Content-Type": "application/json"},
    )
    await assert_envelope(response, 413, "request.too_large")


async def test_unhandled_exception_is_generic_500_and_logged(client, logs):
    response = await client.get("/__test__/boom")
    body = await assert_envelope(response, 500, "internal")
    assert "test-only failure" not in str(body)  # no internals leak to the client
    errors = logs.find("request.unhandled_error")
    assert len(errors) == 1
    assert errors[0]["level"] == "error"
    assert errors[0]["requestId"] == response.headers["X-Request-Id"]
    assert "test-only failure" in errors[0]["error"]["stack"]


async def test_test_routes_absent_outside_test_env(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(APP_ENV="development")))
    await assert_envelope(await client.get("/__test__/boom"), 404, "resource.not_found")
