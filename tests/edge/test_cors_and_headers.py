"""CORS for the extension, security headers everywhere, and the request limits, on the core's own
routes (the example domain's conditional answers: tests/edge/test_catalog_headers.py)."""

import asyncio

import pytest

from app.store.memory_database import MemoryDatabase
from app.web.app import create_app
from tests.conftest import make_settings
from tests.helpers import core_features
from tests.test_errors import assert_envelope

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
ORIGINS = f"{EXTENSION},https://app.example.org"
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@pytest.fixture
async def client(make_client):
    return await make_client(CORS_ALLOWED_ORIGINS=ORIGINS)


async def test_preflight_for_an_allowed_origin(client):
    response = await client.options("/openapi.json", headers={
        "Origin": EXTENSION, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    })
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == EXTENSION
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "Origin" in response.headers["Vary"]


async def test_preflight_for_a_foreign_origin_gets_no_cors_headers(client):
    response = await client.options("/openapi.json", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


async def test_simple_request_from_an_allowed_origin_exposes_headers(client):
    response = await client.get("/openapi.json", headers={"Origin": "https://app.example.org"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-Id", "ETag", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
            "RateLimit-Reset"} <= exposed
    assert response.headers["Vary"] == "Origin"


async def test_foreign_origin_is_served_without_cors_headers(client):
    response = await client.get("/openapi.json", headers={"Origin": "https://evil.example"})
    assert response.status == 200  # CORS is the browser's check
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_security_headers_on_success_error_404_and_429(make_client):
    client = await make_client(RATE_LIMIT_ANON_PER_MINUTE="6")
    responses = [
        await client.get("/openapi.json"),
        await client.get("/nope"),
        await client.get("/__test__/boom"),
        await client.post("/__test__/echo", data=b"{", headers={
            "Content-Type": "application/json"}),
        await client.get("/openapi.json"),
        await client.get("/openapi.json"),
        await client.get("/openapi.json"),  # the 7th request: 429
    ]
    assert [r.status for r in responses] == [200, 404, 500, 400, 200, 200, 429]
    for response in responses:
        for name, value in SECURITY.items():
            assert response.headers[name] == value, (response.status, name)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in response.headers


async def test_hsts_in_production(aiohttp_client):
    settings = make_settings(APP_ENV="production", MONGO_URI="mongodb://db.internal/",
                             JWT_ACCESS_SECRET="Vq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sA",
                             JWT_REFRESH_SECRET="Aq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sV")
    client = await aiohttp_client(create_app(settings, store=MemoryDatabase(),
                                             features=core_features()))
    response = await client.get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_wrong_content_type_is_415(client):
    response = await client.post("/__test__/echo", data="email=a&password=b",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    await assert_envelope(response, 415, "request.unsupported_media_type")
    response = await client.post("/__test__/echo", data=b'{"email": "a@b.io"}')
    await assert_envelope(response, 415, "request.unsupported_media_type")


async def test_oversized_body_is_refused_before_it_is_read(client):
    # Announce 10 MiB, send a few bytes, and wait: the answer must come without the rest.
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"POST /__test__/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 10485760\r\n\r\n{\"email\":")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 413")
    assert b"X-Request-Id" in head


async def test_deeply_nested_json_is_a_clean_400(client):
    body = "[" * 2000 + "]" * 2000
    response = await client.post("/__test__/echo", data=body,
                                 headers={"Content-Type": "application/json"})
    await assert_envelope(response, 400, "request.malformed_json")


async def test_edge_header_names_go_out_in_their_canonical_case(client):
    # Names are prebuilt as case-insensitive keys; what goes on the wire keeps their case.
    response = await client.get("/openapi.json", headers={"Origin": EXTENSION})
    names = {name.decode() for name, _ in response.raw_headers}
    assert {"X-Request-Id", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
            "Content-Security-Policy", "Vary", "Access-Control-Allow-Origin",
            "Access-Control-Expose-Headers", "RateLimit-Limit", "RateLimit-Remaining",
            "RateLimit-Reset", "Content-Type"} <= names
