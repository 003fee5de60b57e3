"""The core's telemetry on the core-only app, to loopback receivers: one request's access line,
span, Sentry event and metric exemplar share one request id and trace id; a 4xx is never sent
to Sentry and a 5xx is, scrubbed; unsampled requests and a service without an exporter create
no spans."""

from __future__ import annotations

import asyncio

from app.identity import NAME
from app.web.app import create_app
from app.web.keys import TELEMETRY
from tests.conftest import make_settings
from tests.helpers import core_features
from tests.telemetry.receivers import flush, wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
CANARY = "password=Zq8-canary-hunter2"


async def test_one_request_one_id_everywhere(aiohttp_client, otlp, sentry_receiver, logs):
    client = await aiohttp_client(create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint, OTEL_TRACES_SAMPLER="always_on",
        SENTRY_DSN=sentry_receiver.dsn), features=core_features()))
    response = await client.get("/__test__/boom", params={"detail": CANARY})
    assert response.status == 500
    request_id = response.headers["X-Request-Id"]
    for path in ("/nope", "/hello?name="):  # 4xx: never captured
        assert (await client.get(path)).status in (400, 404)
    await flush(client)
    await wait_for(lambda: sentry_receiver.events and otlp.spans)
    await asyncio.sleep(0.2)

    (line,) = [x for x in logs.find("request.completed") if x["requestId"] == request_id]
    (span,) = [s for s in otlp.spans if s["attributes"].get("request.id") == request_id]
    (event,) = sentry_receiver.events
    metrics = await (await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text"})).text()
    exemplars = [ln for ln in metrics.splitlines()
                 if ln.startswith("http_requests_total{") and 'route="/__test__/boom"' in ln]

    trace_id = line["traceId"]
    assert span["trace_id"] == trace_id and span["status"] == 2  # ERROR
    assert span["resource"]["service.name"] == NAME
    assert event["tags"]["request_id"] == request_id
    assert event["tags"]["route"] == "GET /__test__/boom"
    assert event["tags"]["trace_id"] == trace_id
    assert event["contexts"]["trace"]["trace_id"] == trace_id  # Sentry's trace link is ours
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    assert exemplars and f'trace_id="{trace_id}"' in exemplars[0]
    everything_sent = b"".join(sentry_receiver.raw).decode(errors="replace")
    assert "Zq8-canary-hunter2" not in everything_sent
    assert "Zq8-canary-hunter2" not in logs.text


async def test_the_callers_trace_is_continued_on_hello(aiohttp_client, otlp, logs):
    client = await aiohttp_client(create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint,
        OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0"),
        features=core_features()))
    for _ in range(20):  # unsampled: nothing is created
        await client.get("/hello")
    response = await client.get("/hello", headers={
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    await flush(client)
    await wait_for(lambda: otlp.spans)
    (span,) = otlp.spans
    assert span["trace_id"] == TRACE_ID and span["parent_span_id"] == PARENT_ID
    assert span["name"] == "GET /hello" and span["attributes"]["http.route"] == "/hello"
    assert span["attributes"]["request.id"] == response.headers["X-Request-Id"]
    traced_lines = [x for x in logs.find("request.completed") if "traceId" in x]
    assert [x["traceId"] for x in traced_lines] == [TRACE_ID]


async def test_no_exporter_no_tracing(aiohttp_client, logs):
    client = await aiohttp_client(create_app(make_settings(), features=core_features()))
    assert client.app[TELEMETRY].tracing is None
    await client.get("/hello", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert "traceId" not in logs.find("request.completed")[0]
