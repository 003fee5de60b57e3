"""Logs are JSON lines with the fixed fields; request context flows without being passed."""

import re

import orjson
import pytest

from app.telemetry import current_request, get_logger
from app.web.app import create_app

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_access_line_has_the_fixed_fields(logs, client):
    response = await client.get("/health")
    (line,) = logs.find("request.completed")
    assert TS.fullmatch(line["ts"])
    assert line["level"] == "info"
    assert line["requestId"] == response.headers["X-Request-Id"]
    assert line["route"] == "GET /health"
    assert line["statusCode"] == 200
    assert isinstance(line["durationMs"], float) and line["durationMs"] >= 0


async def test_route_is_the_template_and_unmatched_is_bounded(logs, client):
    await client.get("/__test__/slow?seconds=0")
    await client.get("/wp-admin/../../etc/passwd")
    routes = [line["route"] for line in logs.find("request.completed")]
    assert routes == ["GET /__test__/slow", "__unmatched__"]


async def test_5xx_access_line_is_error_level(logs, client):
    await client.get("/__test__/boom")
    (line,) = logs.find("request.completed")
    assert line["level"] == "error" and line["statusCode"] == 500


async def test_context_reaches_log_calls_deep_in_the_handler(logs, client):
    # The error line is written inside the handler chain without being handed the request id.
    response = await client.get("/__test__/boom")
    (error,) = logs.find("request.unhandled_error")
    assert error["requestId"] == response.headers["X-Request-Id"]
    assert error["route"] == "GET /__test__/boom"


async def test_context_does_not_leak_between_requests(logs, client):
    await client.get("/health")
    assert current_request.get() is None
    get_logger().info("outside.request")
    (line,) = logs.find("outside.request")
    assert "requestId" not in line


async def test_every_line_parses_with_ts_level_msg(logs, client):
    for path in ("/health", "/ready", "/nope", "/__test__/boom"):
        await client.get(path)
    lines = logs.lines()
    assert len(lines) >= 5
    for line in lines:
        assert TS.fullmatch(line["ts"])
        assert line["level"] in {"debug", "info", "warn", "error"}
        assert isinstance(line["msg"], str)


@pytest.mark.parametrize("path", [
    '/a"b\\c', "/line\nbreak\ttab\x00\x1f\x7f", "/\u2028é✓", "/not-utf8-\udcff\ud800",
    "/" + "x" * 1000,
])
async def test_access_line_escapes_hostile_paths_and_caps_them(logs, path):
    # The line is rendered from a template, not a dict: it must still be one JSON object.
    from app.telemetry import RequestContext, access_line

    token = current_request.set(RequestContext("req_1", route="GET /x", user_id='u"\\1'))
    try:
        access_line("GET", path, 200, 1.5)
    finally:
        current_request.reset(token)
    # Split on "\n" only: str.splitlines would also split at the U+2028 JSON may carry raw.
    lines = [orjson.loads(text) for text in logs.text.split("\n") if text]
    (line,) = [line for line in lines if line["msg"] == "request.completed"]
    assert line["requestId"] == "req_1" and line["route"] == "GET /x"
    assert line["userId"] == 'u"\\1' and line["statusCode"] == 200
    assert line["durationMs"] == 1.5
    if not any(0xD800 <= ord(char) <= 0xDFFF for char in path):
        assert line["path"] == path[:256]
    else:  # lone surrogates (bytes that were not UTF-8) arrive as their escapes
        assert line["path"].startswith("/not-utf8-") and "\\udcff" in line["path"]


async def test_access_line_fields_and_order_match_the_other_lines(logs, client):
    response = await client.get("/openapi.json", headers={"X-Request-Id": "abc.123"})
    (line,) = logs.find("request.completed")
    assert list(line) == ["ts", "level", "msg", "logger", "requestId", "route", "method", "path",
                          "statusCode", "durationMs"]
    assert line["requestId"] == response.headers["X-Request-Id"] == "abc.123"


async def test_access_line_remembers_paths_per_method_and_keeps_them_apart(logs):
    # (method, path) parts are cached: a cached part must never serve another request's line,
    # and a full cache starts over rather than grow.
    from app.telemetry import access_line

    sent = [("GET", "/a"), ("POST", "/a"), ("GET", "/b"), ("GET", "/a")]
    sent += [("GET", f"/p{n}") for n in range(1100)] + [("DELETE", "/a")]
    for method, path in sent:
        access_line(method, path, 204, 0.0004)
    lines = [line for line in logs.lines() if line["msg"] == "request.completed"]
    assert [(line["method"], line["path"]) for line in lines] == sent
    assert {line["durationMs"] for line in lines} == {0.0}  # three decimals, like round(ms, 3)
