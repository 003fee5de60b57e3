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


HOSTILE = ['/a"b\\c', "/line\nbreak\ttab\x00\x1f\x7f", "/\u2028é✓", "/not-utf8-\udcff\ud800",
           "/" + "x" * 1000, "/" + "y" * 10_000]


@pytest.mark.parametrize("path", HOSTILE)
async def test_access_line_escapes_hostile_paths_and_caps_them(logs, path):
    # The line is rendered from a template, not a dict: it must still be one JSON object.
    from app.telemetry import RequestContext, access_line

    token = current_request.set(RequestContext("req_1", route="GET /x", user_id='u"\\1'))
    try:
        access_line("GET", path, 200, 1.5, None, "::1", path)  # the path as the user agent too
    finally:
        current_request.reset(token)
    # Split on "\n" only: str.splitlines would also split at the U+2028 JSON may carry raw.
    lines = [orjson.loads(text) for text in logs.text.split("\n") if text]
    (line,) = [line for line in lines if line["msg"] == "request.completed"]
    assert line["requestId"] == "req_1" and line["route"] == "GET /x"
    assert line["userId"] == 'u"\\1' and line["statusCode"] == 200
    assert line["durationMs"] == 1.5
    assert line["clientIp"] == "::1"
    if not any(0xD800 <= ord(char) <= 0xDFFF for char in path):
        assert line["path"] == path[:256]
        assert line["userAgent"] == path[:200]
    else:  # lone surrogates (bytes that were not UTF-8) arrive as their escapes
        assert line["path"].startswith("/not-utf8-") and "\\udcff" in line["path"]
        assert line["userAgent"] == "/not-utf8-\\udcff\\ud800"


async def test_access_line_fields_and_order_match_the_other_lines(logs, client):
    response = await client.get("/openapi.json", headers={"X-Request-Id": "abc.123"})
    (line,) = logs.find("request.completed")
    assert list(line) == ["ts", "level", "msg", "logger", "requestId", "route", "method", "path",
                          "statusCode", "durationMs", "clientIp", "userAgent"]
    assert line["requestId"] == response.headers["X-Request-Id"] == "abc.123"
    assert line["clientIp"] == "127.0.0.1"
    assert line["userAgent"] == response.request_info.headers["User-Agent"]


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


async def test_the_user_agent_is_cut_at_200_characters_and_credentials_never_reach_it(
        logs, client):
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    agents = {
        # aiohttp refuses a header line over 8190 bytes (request.malformed_http) before us.
        "long": "Mozilla/5.0 " + "x" * 8000,
        "bearer": f"curl/8.5 Authorization: Bearer {token}",
        "jwt": f"tool/1 {token}",
        # A token the cut leaves half of: no prefix of it survives either.
        "cut token": "a" * 180 + " " + token,
        "password pair": "tool/1 password=hunter2-canary",
        "basic": "curl/8.5 Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "basic alone": "tool/1 basic dXNlcjpodW50ZXIy",
        # A URI the cut ends between the password and its `@`.
        "cut uri": "Mozilla/5.0 " + "m" * 170 + " mongodb://admin:hunter2-canary@db:27017/",
        # Not cut: a host and port, no credentials.
        "uri without credentials": "tool/1 (+mongodb://db:27017/catalog)",
    }
    for agent in agents.values():
        await client.get("/health", headers={"User-Agent": agent})
    await client.get("/health", skip_auto_headers=["User-Agent"])
    lines = logs.find("request.completed")
    seen = dict(zip(agents, (line["userAgent"] for line in lines), strict=False))
    assert seen["long"] == agents["long"][:200]
    assert seen["bearer"] == "curl/8.5 [Filtered]"
    assert seen["jwt"] == "tool/1 [Filtered]"
    assert seen["cut token"] == "a" * 180 + " [Filtered]"
    assert seen["password pair"] == "tool/1 [Filtered]"
    assert seen["basic"] == "curl/8.5 [Filtered]"
    assert seen["basic alone"] == "tool/1 [Filtered]"
    assert seen["cut uri"] == "Mozilla/5.0 " + "m" * 170 + " mongodb://[Filtered]"
    assert seen["uri without credentials"] == agents["uri without credentials"]
    assert "eyJzdWIi" not in logs.text and "hunter2" not in logs.text and "eyJhbG" not in logs.text
    assert "dXNlcjpw" not in logs.text and "dXNlcjpo" not in logs.text and "admin:" not in logs.text
    assert "userAgent" not in lines[-1]  # no header, no field


def test_every_credential_pattern_needs_a_mark_the_user_agent_is_checked_for():
    # user_agent_text runs the patterns only on text holding one of _SECRET_MARKS, a list kept
    # in step with _SECRET_TEXT by hand: samples of what each pattern matches (one entry per
    # pattern, in order, so a new pattern needs its own), and a mark in every match.
    from app.telemetry import redact

    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJl"
    samples = [
        [token],
        ["eyJhbGciOiJIUzI1", "eyJhbGciOiJIUzI1NiJ9.eyJz"],
        ["Bearer abc.def", "bearer\tx"],
        ["Basic dXNlcjpwYXNzd29yZA==", "BASIC dXNlcjpo"],
        ["$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"],
        ["password=hunter2", '"Password": "x"', "'client_secret': 'y'", "passwd=z",
         "refresh_token=t", "AUTHORIZATION: q", "db_pass:w"],
        ["mongodb://admin:pw@db", "MONGODB+SRV://u:p@cluster"],
    ]
    assert len(samples) == len(redact._SECRET_TEXT)
    for (pattern, _), texts in zip(redact._SECRET_TEXT, samples, strict=True):
        for text in texts:
            found = pattern.search(text)
            assert found, (pattern.pattern, text)
            assert any(mark in found.group(0).lower() for mark in redact._SECRET_MARKS), text
            assert redact.user_agent_text(f"tool/1 {text}") != f"tool/1 {text}", text


@pytest.mark.parametrize(("hops", "forwarded", "expected"), [
    ("0", "203.0.113.9", "127.0.0.1"),  # no proxy trusted: the header is the client's own
    ("1", "203.0.113.9", "203.0.113.9"),
    ("1", "10.9.9.9, 198.51.100.7", "198.51.100.7"),  # the leftmost entry is the client's
    ("2", "10.9.9.9, 198.51.100.7, 192.0.2.1", "198.51.100.7"),
    ("2", "198.51.100.7", "127.0.0.1"),  # shorter than the trusted hops: the peer
    ("1", "not-an-address", "127.0.0.1"),
    ("1", "2001:db8::7", "2001:db8::7"),
    # An IPv4 client written as IPv6 (a dual-stack proxy) is the IPv4 address the limiter counts.
    ("1", "::ffff:203.0.113.9", "203.0.113.9"),
    # A scope id is the proxy's interface name, any text at all: not a client address.
    ("1", "fe80::1%eth0", "127.0.0.1"),
    ("1", 'fe80::1%"><img src=x>', "127.0.0.1"),
])
async def test_client_ip_is_the_trusted_address_the_rate_limiter_counts(
        logs, aiohttp_client, hops, forwarded, expected):
    from app.web.client import limit_key
    from app.web.keys import RATE_LIMITER
    from tests.conftest import make_settings

    app = create_app(make_settings(TRUST_PROXY_HOPS=hops, RATE_LIMIT_ANON_PER_MINUTE="1"))
    limiter, keys = app[RATE_LIMITER], []
    hit = limiter.hit

    def counted(key, limit):
        keys.append(key)
        return hit(key, limit)

    limiter.hit = counted
    client = await aiohttp_client(app)
    for _ in range(2):  # the second is refused, and the refusal names the address it counted
        await client.get("/openapi.json", headers={"X-Forwarded-For": forwarded})
    lines = logs.find("request.completed")
    assert [(line["statusCode"], line["clientIp"]) for line in lines] == [
        (200, expected), (429, expected)]
    (refused,) = logs.find("ratelimit.exceeded")
    assert refused["client"] == expected
    assert keys == ["ip:" + limit_key(expected)] * 2


async def test_the_client_address_is_computed_once_per_request(logs, aiohttp_client,
                                                               monkeypatch):
    # The rate limiter asks for it (to count, and again to log a refusal), so does the access
    # line: one parse of X-Forwarded-For between them.
    from app.web import client as client_module
    from tests.conftest import make_settings

    calls = []
    original = client_module._forwarded_address

    def counted(request, hops):
        calls.append(request.path)
        return original(request, hops)

    monkeypatch.setattr(client_module, "_forwarded_address", counted)
    app = create_app(make_settings(TRUST_PROXY_HOPS="1", RATE_LIMIT_ANON_PER_MINUTE="1"))
    client = await aiohttp_client(app)
    for path in ("/openapi.json", "/openapi.json", "/health"):
        await client.get(path, headers={"X-Forwarded-For": "203.0.113.9"})
    assert calls == ["/openapi.json", "/openapi.json", "/health"]
    assert {line["clientIp"] for line in logs.find("request.completed")} == {"203.0.113.9"}
