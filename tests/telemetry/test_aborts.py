"""A client that goes away is not a server error: status 499 in the access line and metrics,
one `request.aborted` line, no 500, no Sentry event, nothing in the availability SLI."""

from __future__ import annotations

import asyncio

import sentry_sdk

from app.web.app import create_app
from tests.conftest import make_settings
from tests.edge.test_hostile_bytes import raw
from tests.telemetry.test_metrics import samples
from tests.telemetry.test_traces_and_sentry import wait_for

PASSWORD = "canary-password-Zr8Qm2Lx"


def login_head(length: int) -> bytes:
    return (b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n")


async def _status_counts(client, route: str) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    return {s.labels["status"]: s.value for s in samples(text)["http_requests_total"]
            if s.labels["route"] == route and s.value}


async def test_a_client_gone_mid_body_is_499_not_500(aiohttp_server, aiohttp_client,
                                                     sentry_receiver, logs):
    app = create_app(make_settings(SENTRY_DSN=sentry_receiver.dsn))
    server = await aiohttp_server(app)
    client = await aiohttp_client(server)
    partial = b'{"email": "victim@example.org", "password": "' + PASSWORD.encode()
    head = login_head(500).replace(b"Host: x\r\n", b"Host: x\r\nUser-Agent: probe/1\r\n")
    await raw(server.port, head + partial, close_after_send=True)

    await wait_for(lambda: logs.find("request.aborted"))
    await asyncio.sleep(0.1)
    (aborted,) = logs.find("request.aborted")
    assert aborted["level"] in ("info", "warn") and aborted["route"] == "POST /auth/login"
    (access,) = [line for line in logs.find("request.completed")
                 if line.get("route") == "POST /auth/login"]
    assert access["statusCode"] == 499 and access["level"] == "info"
    # Who left, on both lines.
    for line in (aborted, access):
        assert (line["clientIp"], line["userAgent"]) == ("127.0.0.1", "probe/1")
    assert not [line for line in logs.lines() if line["level"] == "error"]
    counts = await _status_counts(client, "/auth/login")
    assert counts == {"499": 1.0}, counts
    await asyncio.to_thread(sentry_sdk.flush, 5)
    assert sentry_receiver.events == []
    assert PASSWORD not in logs.text


async def test_a_client_gone_before_the_answer_is_written_is_499(aiohttp_server, logs):
    # The whole body arrives, the client closes at once: the answer has nowhere to go.
    server = await aiohttp_server(create_app(make_settings()))
    body = b'{"email": "a@example.org", "password": "whatever-password"}'
    for _ in range(3):
        await raw(server.port, login_head(len(body)) + body, close_after_send=True)
    await asyncio.sleep(0.5)
    statuses = {line["statusCode"] for line in logs.find("request.completed")}
    assert statuses <= {401, 499}, statuses
    assert not [line for line in logs.lines() if line["level"] == "error"]
