"""Hostile bytes over a raw socket (client libraries refuse to send most of them), against the
core's own routes: bytes that are not HTTP get the envelope and never an echo, a body whose
framing or encoding breaks is a 400 at once, and every error that spent budget says so."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.web.app import create_app
from tests.conftest import make_settings


async def raw(port: int, data: bytes, *, close_after_send: bool = False,
              timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the status, headers and body of the answer (0 when none)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if close_after_send:
            return 0, {}, b""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        return status, headers, body
    finally:
        writer.close()


def get(path: str, *headers: bytes, method: bytes = b"GET") -> bytes:
    lines = [method + b" " + path.encode() + b" HTTP/1.1", b"Host: 127.0.0.1", *headers,
             b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


async def test_head_works_on_get_routes(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings()))
    for path in ("/health", "/ready", "/openapi.json"):
        got = await client.get(path)
        head = await client.head(path)
        assert head.status == got.status == 200, path
        assert await head.read() == b""
        assert head.headers["X-Request-Id"]


async def test_errors_that_spent_budget_carry_the_ratelimit_headers(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(RATE_LIMIT_ANON_PER_MINUTE="50")))
    answers = [
        await client.get("/nope"),
        await client.delete("/openapi.json"),
        await client.post("/__test__/echo", data=b"{", headers={
            "Content-Type": "application/json"}),
        await client.post("/__test__/echo", data=b"{}", headers={"Content-Type": "text/plain"}),
    ]
    for response in answers:
        assert 400 <= response.status < 500, response.status
        assert response.headers["RateLimit-Limit"] == "50", response.status
        assert "RateLimit-Remaining" in response.headers
    remaining = [int(r.headers["RateLimit-Remaining"]) for r in answers]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]


@pytest.mark.parametrize("header", [
    b"Authorization: Bearer eyJfragmentOfAToken\x01\x02",
    b"Authorization: Bearer eyJfragmentOfAToken" + b"A" * 9000,
    b"X-Api-Key: eyJfragmentOfAToken\x7f",
])
def test_bytes_that_are_not_http_get_the_envelope_without_an_echo(header):
    # The real server (its connection handler answers these, not the app's middlewares).
    from tests.service import ServiceProcess

    with ServiceProcess() as service:
        status, headers, body = asyncio.run(raw(service.port, get("/health", header)))
    output = service.output()  # after the stop: every line written, the last included
    assert status == 400
    error = json.loads(body)
    assert error["error"]["code"] == "validation.failed"
    assert headers["x-request-id"] == error["meta"]["requestId"]
    assert b"fragmentOfAToken" not in body
    assert "fragmentOfAToken" not in output and "request.malformed_http" in output


@pytest.mark.parametrize("body", [
    # A bad chunk after the body began: aiohttp never tells the reader, which waited forever.
    (b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", b"zz\r\n\r\n"),
    # A body that says gzip and is not.
    (b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\n", b"abcd"),
    (b"Content-Encoding: deflate\r\nContent-Length: 4\r\n\r\n", b"abcd"),
])
def test_a_body_whose_framing_or_encoding_breaks_is_400_at_once(body):
    from tests.service import ServiceProcess

    async def send(port: int) -> bytes:
        head, rest = body
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"POST /__test__/echo HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n" + head)
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(rest)
            await writer.drain()
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        finally:
            writer.close()

    with ServiceProcess() as service:
        answer = asyncio.run(send(service.port))
    assert answer.startswith(b"HTTP/1.1 400"), answer
    lines = service.log_lines()
    assert not [line for line in lines if line["level"] == "error"], lines
    (access,) = [line for line in lines if line["msg"] == "request.completed"
                 and line.get("route") == "POST /__test__/echo"]
    assert access["statusCode"] == 400


def test_hostile_user_agents_and_forwarded_addresses_never_break_the_access_line():
    # Through the real server's parser: bytes that are not UTF-8, a tab, quotes and U+2028 in
    # the User-Agent, one of 8,000 bytes (cut to 200); control bytes and one over the header
    # limit (refused by the parser, never echoed); a spoofed X-Forwarded-For with no proxy
    # trusted.
    from tests.service import ServiceProcess

    agents = [b"\xff\xc3 not utf-8", b"a\tb", b'q"uo\\te \xe2\x80\xa8', b"L" * 8000]
    with ServiceProcess() as service:  # TRUST_PROXY_HOPS=0, the default
        statuses = [asyncio.run(raw(service.port, get(
            "/health", b"User-Agent: " + agent, b"X-Forwarded-For: 203.0.113.66")))[0]
            for agent in agents]
        refused = [asyncio.run(raw(service.port, get("/health", b"User-Agent: " + agent)))
                   for agent in (b"refused-marker " * 700, b"refused-marker\x01",
                                 b"refused-marker\x7f")]
    assert statuses == [200] * 4
    assert [answer[0] for answer in refused] == [400] * 3
    assert not [answer for answer in refused if b"refused-marker" in answer[2]]
    output = service.output()
    # Split on "\n" only: str.splitlines would also split at the U+2028 JSON may carry raw.
    lines = [json.loads(text) for text in output.split("\n") if text]  # each one object
    access = [line for line in lines if line["msg"] == "request.completed"
              and line.get("userAgent", "").startswith(("\\udcff", "a\t", "q", "L"))]
    assert [line["userAgent"] for line in access] == [
        "\\udcff\\udcc3 not utf-8", "a\tb", 'q"uo\\te \u2028', "L" * 200]
    assert {line["clientIp"] for line in access} == {"127.0.0.1"}  # the spoof is ignored
    assert "203.0.113.66" not in output and "refused-marker" not in output
    assert [line["msg"] for line in lines if line.get("statusCode") == 400] == [
        "request.malformed_http"] * 3
