"""The real OpenTelemetry and Sentry SDKs, sending to loopback receivers; and one request's
log line, span, Sentry event and exemplar sharing one trace id and request id."""

import asyncio

import pytest

from app.identity import NAME
from app.web.app import create_app
from app.web.keys import TELEMETRY
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.telemetry.receivers import flush, wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
async def traced(aiohttp_client, otlp, mongo_settings):
    settings = make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint, OTEL_TRACES_SAMPLER="always_on",
        MONGO_URI=mongo_settings.mongo_uri.reveal(), MONGO_DB=mongo_settings.mongo_db,
        CONTENT_SNAPSHOT_MAX_ITEMS="0",  # /content/{id} from the database: a Mongo child span
    )
    return await aiohttp_client(create_app(settings))


async def test_server_span_continues_the_callers_trace_with_a_mongo_child(traced, otlp, logs):
    response = await traced.get("/content/01H00000000000000000000000", headers={
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert response.status == 404
    await flush(traced)
    await wait_for(lambda: any(s["trace_id"] == TRACE_ID for s in otlp.spans))
    spans = [s for s in otlp.spans if s["trace_id"] == TRACE_ID]
    (server,) = [s for s in spans if s["parent_span_id"] == PARENT_ID]
    assert server["name"] == "GET /content/{id}"
    assert server["attributes"]["http.route"] == "/content/{id}"
    assert server["attributes"]["http.response.status_code"] == 404
    assert server["attributes"]["request.id"] == response.headers["X-Request-Id"]
    assert server["resource"]["service.name"] == NAME
    assert server["resource"]["deployment.environment"] == "test"
    children = [s for s in spans if s["parent_span_id"] == server["span_id"]]
    assert any(s["name"] == "find content" and s["attributes"]["db.system.name"] == "mongodb"
               for s in children), children
    (line,) = [x for x in logs.find("request.completed") if x["route"] == "GET /content/{id}"]
    assert line["traceId"] == TRACE_ID and line["spanId"] == server["span_id"]


async def test_unsampled_requests_create_nothing(aiohttp_client, otlp, logs):
    client = await aiohttp_client(create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint,
        OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0")))
    for _ in range(20):
        await client.get("/catalog")
    # A caller's sampled decision is still followed.
    await client.get("/catalog", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    await flush(client)
    await wait_for(lambda: otlp.spans)
    assert {s["trace_id"] for s in otlp.spans} == {TRACE_ID}
    traced_lines = [x for x in logs.find("request.completed") if "traceId" in x]
    assert len(traced_lines) == 1


async def test_no_exporter_no_tracing(aiohttp_client, logs):
    client = await aiohttp_client(create_app(make_settings()))
    assert client.app[TELEMETRY].tracing is None
    await client.get("/catalog", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert "traceId" not in logs.find("request.completed")[0]


@pytest.fixture
async def everything(aiohttp_client, otlp, sentry_receiver):
    settings = make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint, OTEL_TRACES_SAMPLER="always_on",
        SENTRY_DSN=sentry_receiver.dsn, AUTH_ALLOW_SELF_REGISTRATION="true",
    )
    return await aiohttp_client(create_app(settings))


async def test_sentry_gets_5xx_and_security_events_scrubbed(logs, everything, sentry_receiver):
    client = everything
    registered = await client.post("/auth/register", json={"email": "s@example.org",
                                                           "password": PASSWORD})
    tokens = (await registered.json())["data"]
    secrets = [PASSWORD, tokens["accessToken"], tokens["refreshToken"], "s@example.org"]

    boom = await client.get(
        "/__test__/boom",
        params={"detail": f"password={PASSWORD} token={tokens['refreshToken']}"},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert boom.status == 500
    await client.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    reused = await client.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert reused.status == 401
    for path in ("/nope", "/content?limit=0"):  # 4xx: never captured
        assert (await client.get(path)).status in (400, 404)

    await flush(client)
    await wait_for(lambda: len(sentry_receiver.events) >= 2)
    await asyncio.sleep(0.2)
    events = sentry_receiver.events
    assert len(events) == 2, [e.get("message") or e.get("exception") for e in events]
    error = next(e for e in events if "exception" in e)
    security = next(e for e in events if e.get("message") == "auth.refresh.reused")
    assert error["tags"]["request_id"] == boom.headers["X-Request-Id"]
    assert error["tags"]["route"] == "GET /__test__/boom"
    assert len(error["tags"]["trace_id"]) == 32
    assert security["tags"]["request_id"] == reused.headers["X-Request-Id"]
    assert security["level"] == "error" and security["user"]["id"]
    assert error["exception"]["values"][0]["type"] == "RuntimeError"
    everything_sent = b"".join(sentry_receiver.raw).decode(errors="replace")
    for secret in secrets:
        assert secret not in everything_sent
    assert "[Filtered]" in everything_sent  # the scrubber did the work, not luck
    # The traceback in the log went through the same redaction.
    assert "request.unhandled_error" in logs.text
    for secret in secrets[:3]:
        assert secret not in logs.text


async def test_one_request_one_id_everywhere(everything, otlp, sentry_receiver, logs):
    client = everything
    response = await client.get("/__test__/boom")
    request_id = response.headers["X-Request-Id"]
    await flush(client)
    await wait_for(lambda: sentry_receiver.events and otlp.spans)

    (line,) = [x for x in logs.find("request.completed") if x["requestId"] == request_id]
    (span,) = [s for s in otlp.spans if s["attributes"].get("request.id") == request_id]
    (event,) = [e for e in sentry_receiver.events if e["tags"]["request_id"] == request_id]
    metrics = await (await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text"})).text()
    exemplars = [ln for ln in metrics.splitlines()
                 if ln.startswith("http_requests_total{") and 'route="/__test__/boom"' in ln]

    trace_id = line["traceId"]
    assert span["trace_id"] == trace_id
    assert event["tags"]["trace_id"] == trace_id
    assert event["contexts"]["trace"]["trace_id"] == trace_id  # Sentry's trace link is ours
    assert exemplars and f'trace_id="{trace_id}"' in exemplars[0]
    assert span["status"] == 2  # ERROR


async def test_replaying_a_used_refresh_token_is_one_sentry_event(aiohttp_client,
                                                                  sentry_receiver, logs):
    # Each replay is reuse (logged at error, counted); Sentry hears of the family once, so a
    # replay loop cannot spend the event quota.
    client = await aiohttp_client(create_app(make_settings(
        SENTRY_DSN=sentry_receiver.dsn, AUTH_ALLOW_SELF_REGISTRATION="true")))
    registered = await client.post("/auth/register", json={"email": "r@example.org",
                                                           "password": PASSWORD})
    old = (await registered.json())["data"]["refreshToken"]
    assert (await client.post("/auth/refresh", json={"refreshToken": old})).status == 200
    for _ in range(5):
        assert (await client.post("/auth/refresh", json={"refreshToken": old})).status == 401
    await flush(client)
    await wait_for(lambda: sentry_receiver.events)
    await asyncio.sleep(0.3)
    assert [e.get("message") for e in sentry_receiver.events] == ["auth.refresh.reused"]
    assert len(logs.find("auth.refresh.reused")) == 5
