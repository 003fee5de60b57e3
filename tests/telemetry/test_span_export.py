"""Our span records and their export: the sampling rules, the HTTP server conventions, the
bounded queue, a collector that is down, and the flush at shutdown."""

import contextlib
import socket

import pytest

from app.identity import NAME
from app.telemetry.span_export import SpanExporter
from app.telemetry.tracing import Tracing
from app.web.app import create_app
from app.web.keys import TELEMETRY
from tests.conftest import make_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
ATTRIBUTES = {"http.request.method": "GET", "http.route": "/openapi.json",
              "url.path": "/openapi.json"}


def tracing(sampler: str, ratio: str = "1") -> Tracing:
    return Tracing(make_settings(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:9/v1/traces",
                                 OTEL_TRACES_SAMPLER=sampler, OTEL_TRACES_SAMPLER_ARG=ratio),
                   version="test")


def sampled(t: Tracing, flags: str | None, trace_id: str = TRACE_ID) -> bool:
    headers = {} if flags is None else {"traceparent": f"00-{trace_id}-{PARENT_ID}-{flags}"}
    span, token = t.start_server_span("GET /openapi.json", headers, dict(ATTRIBUTES))
    if span is None:
        return False
    t.finish_server_span(span, token, 200, None)
    return True


@pytest.mark.parametrize(("sampler", "ratio", "parent", "expected"), [
    ("always_on", "1", None, True),
    ("always_off", "1", None, False),
    ("always_off", "1", "01", False),  # not parent-based: the caller's decision is not asked
    ("parentbased_always_off", "1", "01", True),
    ("parentbased_always_on", "1", "00", False),
    ("parentbased_traceidratio", "0", "01", True),
    ("parentbased_traceidratio", "1", "00", False),
    ("traceidratio", "0", "01", False),
    ("parentbased_traceidratio", "0", None, False),
    ("parentbased_traceidratio", "1", None, True),
])
def test_sampling_rules(sampler, ratio, parent, expected):
    assert sampled(tracing(sampler, ratio), parent) is expected


def test_ratio_decides_by_trace_id_as_other_services_do():
    # TraceIdRatioBased: the low 64 bits of the trace id against ratio * 2**64.
    t = tracing("traceidratio", "0.5")
    assert sampled(t, "00", trace_id="ffffffffffffffff" + "0000000000000001")
    assert not sampled(t, "01", trace_id="00000000000000" + "01" + "ffffffffffffffff")


def test_the_queue_is_bounded_and_counts_what_it_drops():
    exporter = SpanExporter("http://127.0.0.1:9/v1/traces", (), b"", b"", max_queue=3)
    for _ in range(5):
        exporter.submit(b"span")
    assert (exporter.pending, exporter.dropped) == (3, 2)


@pytest.fixture
async def traced(aiohttp_client, otlp):
    app = create_app(make_settings(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint,
                                   OTEL_TRACES_SAMPLER="always_on"))
    return await aiohttp_client(app)


async def test_server_spans_follow_the_http_conventions(traced, otlp):
    ok = await traced.get("/openapi.json", headers={"User-Agent": "probe/1.0"})
    boom = await traced.get("/__test__/boom", params={"detail": "password=hunter2-hunter2"})
    missing = await traced.get("/no/such/path")
    assert (ok.status, boom.status, missing.status) == (200, 500, 404)
    await traced.app[TELEMETRY].tracing.flush()
    spans = {s["attributes"]["request.id"]: s for s in otlp.spans}

    span = spans[ok.headers["X-Request-Id"]]
    assert span["name"] == "GET /openapi.json"
    assert span["kind"] == 2 and span["status"] == 0  # SERVER, UNSET
    attributes = span["attributes"]
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/openapi.json" and attributes["url.path"] == "/openapi.json"
    assert attributes["url.scheme"] == "http"
    assert attributes["network.protocol.version"] == "1.1"
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == traced.port
    assert attributes["user_agent.original"] == "probe/1.0"
    assert attributes["http.response.status_code"] == 200
    assert "error.type" not in attributes
    assert span["flags"] & 0x1FF == 0x101  # sampled; the parent is known not to be remote

    error = spans[boom.headers["X-Request-Id"]]
    assert error["status"] == 2 and error["attributes"]["error.type"] == "500"
    (event,) = error["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "RuntimeError"
    assert "hunter2" not in event["attributes"]["exception.message"]
    assert "hunter2" not in event["attributes"]["exception.stacktrace"]

    unmatched = spans[missing.headers["X-Request-Id"]]
    assert unmatched["name"] == "GET"  # no route: the method alone, never the raw path
    assert "http.route" not in unmatched["attributes"]
    assert unmatched["status"] == 0  # 4xx leaves the server span unset


async def test_the_standard_resource_and_header_variables_are_honoured(aiohttp_client, otlp):
    # What the SDK's exporter read itself, now read by app.config: a collector behind
    # authentication, and the pod's name on every span.
    app = create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint, OTEL_TRACES_SAMPLER="always_on",
        OTEL_RESOURCE_ATTRIBUTES="k8s.pod.name=api-7d9f,service.name=not-ours",
        OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20collector-key,x-tenant=a",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS="x-tenant=b",
    ))
    client = await aiohttp_client(app)
    assert (await client.get("/openapi.json")).status == 200
    await app[TELEMETRY].tracing.flush()
    (span,) = otlp.spans
    assert span["resource"]["k8s.pod.name"] == "api-7d9f"
    assert span["resource"]["service.name"] == NAME  # ours win on a clash
    (headers,) = otlp.headers
    assert headers["authorization"] == "Bearer collector-key"
    assert headers["x-tenant"] == "b"  # the per-signal variable wins, as in the spec
    assert headers["content-type"] == "application/x-protobuf"


async def test_shutdown_exports_what_is_queued(aiohttp_client, otlp):
    app = create_app(make_settings(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint,
                                   OTEL_TRACES_SAMPLER="always_on"))
    app[TELEMETRY].tracing.exporter.interval = 3600  # only the shutdown can send them
    client = await aiohttp_client(app)
    for _ in range(5):
        await client.get("/openapi.json")
    assert app[TELEMETRY].tracing.exporter.pending == 5
    await client.close()  # the cleanup contexts run, as on SIGTERM
    assert len(otlp.spans) == 5


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_collector_that_is_down_costs_one_log_line_and_counted_drops(aiohttp_client,
                                                                            logs):
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    client = await aiohttp_client(create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint, OTEL_TRACES_SAMPLER="always_on")))
    tracing = client.app[TELEMETRY].tracing
    for _ in range(3):
        for _ in range(4):
            assert (await client.get("/openapi.json")).status == 200
        await tracing.flush()
    assert tracing.exporter.dropped == 12 and tracing.exporter.pending == 0
    assert len(logs.find("traces.export_failed")) == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'trace_spans_total{outcome="dropped"} 12.0' in metrics


async def test_a_collector_reply_is_never_inflated_nor_read_whole(aiohttp_server, aiohttp_client,
                                                                  logs):
    """A collector answering with an endless (or gzip-bombed) body: the export reads at most
    MAX_REPLY_BYTES of it, asks for no compression, and the spans count as exported."""
    from aiohttp import web

    seen: list[dict[str, str]] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        seen.append({key.lower(): value for key, value in request.headers.items()})
        await request.read()
        response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            while True:  # until the exporter hangs up
                await response.write(b"\x00" * 65536)
        return response

    collector = web.Application()
    collector.router.add_post("/v1/traces", endless)
    server = await aiohttp_server(collector)
    client = await aiohttp_client(create_app(make_settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{server.port}/v1/traces",
        OTEL_TRACES_SAMPLER="always_on")))
    tracing = client.app[TELEMETRY].tracing
    for _ in range(2):
        assert (await client.get("/openapi.json")).status == 200
        await tracing.flush()
    assert (tracing.exporter.exported, tracing.exporter.dropped) == (2, 0)
    assert len(seen) == 2 and "accept-encoding" not in seen[0]
    assert logs.find("traces.export_failed") == []


async def test_a_slow_collector_is_said_once_when_spans_are_dropped(logs):
    exporter = SpanExporter("http://127.0.0.1:9/v1/traces", (), b"", b"", max_queue=2)
    for _ in range(5):
        exporter.submit(b"span")
    assert exporter.dropped == 3
    assert len(logs.find("traces.queue_full")) == 1


@pytest.mark.parametrize(("host", "address", "port"), [
    ("api.example.org", "api.example.org", 80),
    ("api.example.org:8443", "api.example.org", 8443),
    ("[::1]:8080", "::1", 8080),
    ("api:\u00b2", "api", None),  # a digit to str.isdigit(), not to int()
    ("api:\u0661\u0662", "api", None),  # Arabic-Indic digits
    ("api:99999999999999999999", "api", None),
    ("api:0", "api", None),
])
def test_the_host_header_never_fails_the_span(host, address, port):
    t = tracing("always_on")
    span, token = t.start_server_span("GET /openapi.json", {"Host": host}, dict(ATTRIBUTES))
    assert span is not None
    assert span.attributes["server.address"] == address
    assert span.attributes.get("server.port") == port
    t.finish_server_span(span, token, 200, None)


def test_a_failed_database_command_names_its_error():
    from types import SimpleNamespace

    from app.telemetry.mongo import CommandTelemetry

    t = tracing("always_on")
    listener = CommandTelemetry(None, t)
    server, token = t.start_server_span("GET /openapi.json", {}, dict(ATTRIBUTES))
    command = SimpleNamespace(command_name="find", command={"find": "content"},
                              database_name="catalog", request_id=7,
                              connection_id=("db", 27017), duration_micros=1500,
                              failure={"codeName": "Unauthorized"})
    listener.started(command)
    (child,) = listener._spans.values()
    listener.failed(command)
    t.finish_server_span(server, token, 503, None)
    assert child.parent_id == server.span_id and child.trace_id == server.trace_id
    assert child.attributes["error.type"] == "Unauthorized"
    assert child.status == 2  # ERROR
