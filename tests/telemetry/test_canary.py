"""The canary: the real service, every secret and a password set to canary values, the real
Sentry and OTLP exporters sending to loopback sinks; every hostile case we know is driven through
it, then every byte that left the process (stdout and stderr, Sentry envelopes, OTLP payloads,
/metrics, response bodies and headers) is searched for every canary. Zero hits.

This is the test that guards the project's telemetry: a new hostile case belongs in `drive`.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import signal
import urllib.parse

import aiohttp
import pytest

from tests.edge.test_hostile_requests import UNDECODABLE, get, raw
from tests.service import ServiceProcess


def canary(kind: str) -> str:
    # Long, random and unmistakable: a hit is never a coincidence.
    return f"canary-{kind}-{secrets.token_hex(16)}"


class Sent:
    """Every answer the service gave, as bytes, to be searched with the rest."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.statuses: list[int] = []

    def add(self, status: int, headers: object, body: bytes) -> None:
        self.statuses.append(status)
        self.chunks.append(repr(headers).encode() + b"\n" + body)


async def call(session: aiohttp.ClientSession, sent: Sent, method: str, url: str,
               **kwargs) -> tuple[int, dict]:
    async with session.request(method, url, **kwargs) as response:
        body = await response.read()
        sent.add(response.status, dict(response.headers), body)
        try:
            return response.status, await response.json(content_type=None)
        except ValueError:
            return response.status, {}


def basic_credentials(canaries: dict[str, str]) -> str:
    """The admin's HTTP basic credentials (base64 of email:password: no canary inside)."""
    return base64.b64encode(
        f"{canaries['admin email']}:{canaries['admin password']}".encode()).decode()


async def drive(service: ServiceProcess, canaries: dict[str, str], sent: Sent) -> dict[str, str]:
    """Every hostile case, against the running service. Returns the tokens it was issued (which
    may appear in the answers that issued them, and nowhere else)."""
    port, base = service.port, service.url
    admin, password = canaries["admin email"], canaries["admin password"]
    user_password = canaries["user password"]
    async with aiohttp.ClientSession() as session:
        status, body = await call(session, sent, "POST", base + "/auth/login",
                                  json={"email": admin, "password": password})
        assert status == 200, body
        access, refresh = body["data"]["accessToken"], body["data"]["refreshToken"]
        status, body = await call(session, sent, "POST", base + "/auth/register",
                                  json={"email": "canary-user@example.org",
                                        "password": user_password})
        assert status == 201, body
        user_refresh = body["data"]["refreshToken"]
        # Wrong passwords, unknown users, a short one, and bodies that are not JSON.
        for body_text in (
            {"email": admin, "password": user_password},
            {"email": "nobody@example.org", "password": password},
            {"email": "canary-user@example.org", "password": "short"},
        ):
            await call(session, sent, "POST", base + "/auth/login", json=body_text)
        for fragment in (f'{{"email": "{admin}", "password": "{password}',
                         f'{{"email": "{admin}", "password": "{password}", }}',
                         f"email={admin}&password={password}"):
            await call(session, sent, "POST", base + "/auth/login", data=fragment.encode(),
                       headers={"Content-Type": "application/json"})
        # Refresh-token reuse: a Sentry security event and an error line.
        status, body = await call(session, sent, "POST", base + "/auth/refresh",
                                  json={"refreshToken": user_refresh})
        assert status == 200
        status, _ = await call(session, sent, "POST", base + "/auth/refresh",
                               json={"refreshToken": user_refresh})
        assert status == 401
        # A 500 whose message holds secrets in every shape the redactor knows, and whose frame
        # holds the settings (every secret of the process) as a local variable.
        detail = (f'password={password} {{"password": "{user_password}"}} '
                  f"token={refresh} Bearer {access}")
        status, _ = await call(session, sent, "GET", base + "/__test__/boom",
                               params={"detail": detail},
                               headers={"Authorization": f"Bearer {access}"})
        assert status == 500
        # Tokens where they do not belong: in the query, in the request id.
        await call(session, sent, "GET", base + "/content",
                   params={"q": access, "cursor": refresh})
        await call(session, sent, "GET", base + "/catalog", headers={"X-Request-Id": access})
        # Credentials in the User-Agent, which the access line carries (its first 200
        # characters): whole, behind a scheme or a key, and cut short by the 200 (a token, and
        # a URI's password before its `@`).
        uri = " mongodb://admin:"
        cut_uri = "tool/1 " + "x" * (200 - 7 - len(uri) - len(password) // 2) + uri
        for agent in (f"tool/1 {refresh}", f"tool/1 Bearer {access}", f"tool/1 token={refresh}",
                      f"tool/1 password={password}", f"tool/1 Basic {basic_credentials(canaries)}",
                      "x" * 150 + " " + access, f"{cut_uri}{password}@db:27017/"):
            await call(session, sent, "GET", base + "/catalog", headers={"User-Agent": agent})
        await call(session, sent, "GET", base + "/me",
                   headers={"Authorization": f"Bearer {access}"})
        await call(session, sent, "POST", base + "/admin/tags", json={"slug": "c", "name": "C"},
                   headers={"Authorization": f"Bearer {access}"})
        await call(session, sent, "POST", base + "/auth/logout", json={"refreshToken": refresh})

    # Over a raw socket: credentials that cannot be decoded, on public and protected routes.
    for credential in UNDECODABLE.values():
        for path in ("/health", "/catalog", "/me", "/nope"):
            sent.add(*await raw(port, get(path, b"Authorization: " + credential)))
    # Trace context and a Host whose bytes are not UTF-8 (the span carries both).
    parent = b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for header in (parent + b"\xff", b"tracestate: a=\xff\xfe,b=1", b"User-Agent: \xff\xc3"):
        status, *rest = await raw(port, get("/catalog", parent, header))
        sent.add(status, *rest)
        assert status == 200, (header, rest)
    for host in (b"h\xff\xfe:80", b"h:\xc2\xb2", b"h:99999999999999999999"):
        status, *rest = await raw(port, b"GET /catalog HTTP/1.1\r\nHost: " + host + b"\r\n"
                                        b"Connection: close\r\n\r\n")
        sent.add(status, *rest)
        assert status == 200, (host, rest)
    # Malformed HTTP carrying secrets: a control byte in a header, an over-long header.
    basic = basic_credentials(canaries).encode()
    for header in (b"Authorization: Basic " + basic + b"\x01",
                   b"Authorization: Bearer " + access.encode() + b"A" * 9000,
                   b"X-Password: " + password.encode() + b"\x7f"):
        sent.add(*await raw(port, get("/catalog", header)))
    # A client that leaves mid-body with the password in what it sent, and one that leaves
    # before the answer.
    body = f'{{"email": "{admin}", "password": "{password}"}}'.encode()
    head = (b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: ")
    await raw(port, head + b"500\r\n\r\n" + body, close_after_send=True)
    await raw(port, head + str(len(body)).encode() + b"\r\n\r\n" + body, close_after_send=True)
    # Bodies whose framing or encoding breaks, with the password inside: a body that says gzip
    # and is not, and a chunked body whose second chunk is garbage.
    login = b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    sent.add(*await raw(port, login + b"Content-Encoding: gzip\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body))
    sent.add(*await raw(port, login + b"Transfer-Encoding: chunked\r\n\r\n"
                        + f"{len(body):x}".encode() + b"\r\n" + body + b"\r\nzz\r\n\r\n"))
    # The auth limiter: a refusal is logged and reported to Sentry once.
    async with aiohttp.ClientSession() as session:
        for _ in range(12):
            await call(session, sent, "POST", base + "/auth/login",
                       json={"email": admin, "password": user_password})
        sent.add(200, {}, (await (await session.get(base + "/metrics")).read()))
        sent.add(200, {}, (await (await session.get(
            base + "/metrics", headers={"Accept": "application/openmetrics-text"})).read()))
    return {"access token": access, "refresh token": refresh}


@pytest.mark.timeout(180)
async def test_no_secret_ever_leaves_the_process(otlp, sentry_receiver):
    canaries = {
        "access secret": canary("access-secret"),
        "previous access secret": canary("previous-access-secret"),
        "refresh secret": canary("refresh-secret"),
        "previous refresh secret": canary("previous-refresh-secret"),
        "admin password": canary("admin-password"),
        "user password": canary("user-password"),
        "collector key": canary("collector-key"),
    }
    sentry_key = canary("sentrykey").replace("-", "")
    port = sentry_receiver.dsn.rsplit(":", 1)[1].split("/")[0]
    service = ServiceProcess(
        APP_ENV="test", LOG_LEVEL="debug",
        JWT_ACCESS_SECRET=canaries["access secret"],
        JWT_ACCESS_SECRET_PREVIOUS=canaries["previous access secret"],
        JWT_REFRESH_SECRET=canaries["refresh secret"],
        JWT_REFRESH_SECRET_PREVIOUS=canaries["previous refresh secret"],
        BOOTSTRAP_ADMIN_EMAIL="canary-admin@example.org",
        BOOTSTRAP_ADMIN_PASSWORD=canaries["admin password"],
        AUTH_ALLOW_SELF_REGISTRATION="true",
        RATE_LIMIT_AUTH_PER_MINUTE="10",
        SENTRY_DSN=f"http://{sentry_key}@127.0.0.1:{port}/1",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint, OTEL_TRACES_SAMPLER="always_on",
        # Sent to the collector in a header (otlp.headers), never in a body, log or event.
        OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{canaries['collector key']}",
    )
    canaries["admin email"] = "canary-admin@example.org"  # driven, not secret
    sent = Sent()
    await asyncio.to_thread(service.start)
    try:
        issued = await drive(service, canaries, sent)
    finally:
        # SIGTERM flushes spans and events to the sinks, which answer on this loop.
        service.env["SHUTDOWN_GRACE_SECONDS"] = "0"
        await asyncio.to_thread(service.signal, signal.SIGTERM)
        code = await asyncio.to_thread(service.wait, 30)
    assert code == 0, service.output()[-3000:]
    assert 500 in sent.statuses and 499 not in sent.statuses  # 499 is never sent, only logged

    output = service.output().encode()
    envelopes = b"\n".join(sentry_receiver.raw)
    spans = b"\n".join(otlp.raw)
    answers = b"\n".join(sent.chunks)
    # The search is only as good as what was captured: each channel carried the cases.
    assert b"request.unhandled_error" in output and b"auth.refresh.reused" in output
    assert b"request.aborted" in output and b"request.malformed_http" in output
    assert output.count(b'"userAgent":"tool/1 [Filtered]"') == 5
    assert b' mongodb://[Filtered]"' in output
    assert len(sentry_receiver.events) >= 3, [e.get("message") for e in sentry_receiver.events]
    assert len(otlp.spans) >= 20
    assert otlp.headers[0]["authorization"] == f"Bearer {canaries['collector key']}"

    channels = {"logs": output, "sentry": envelopes, "otlp": spans, "answers": answers}
    secret_values = [value for name, value in canaries.items() if name != "admin email"]
    hits = []
    for channel, data in channels.items():
        for name, value in canaries.items():
            if name == "admin email":
                continue
            encoded = base64.b64encode(value.encode()).decode()
            # The canary's kind ("canary-admin-password-"): what a cut leaves of it.
            cut = value[:value.rindex("-") + 1]
            for form in (value, urllib.parse.quote(value), encoded, cut):
                if form.encode() in data:
                    hits.append((channel, name, form))
        # The Sentry key authenticates the Sentry channel itself (its auth header and the
        # envelope's sampling context name it); anywhere else it is a leak.
        if channel != "sentry" and sentry_key.encode() in data:
            hits.append((channel, "sentry key", sentry_key))
        if basic_credentials(canaries).encode() in data:
            hits.append((channel, "basic credentials", "…"))
        # Issued tokens belong in the answers that issued them, nowhere in telemetry.
        if channel != "answers":
            hits += [(channel, name, "…") for name, token in issued.items()
                     if token.encode() in data]
    assert hits == [], hits
    assert secret_values  # the table above was not empty
