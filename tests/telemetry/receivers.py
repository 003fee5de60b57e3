"""Loopback receivers for the real SDKs: an OTLP/HTTP trace collector and a Sentry ingest
endpoint. They decode what arrives, so tests assert on what would reach the real services;
`flush` and `wait_for` get it there."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import sentry_sdk
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app.web.keys import TELEMETRY


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        return app

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes any Content-Encoding
        self.raw.append(body)
        self.headers.append({key.lower(): value for key, value in request.headers.items()})
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append({
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "kind": span.kind,
                        "status": span.status.code,
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "events": [{"name": e.name, "attributes": {
                            a.key: _value(a.value) for a in e.attributes}} for e in span.events],
                        "flags": span.flags,
                        "resource": resource,
                    })
        return web.Response(status=200)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class SentryReceiver:
    """Sentry's envelope endpoint: `/api/<project>/envelope/`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[bytes] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{project}/envelope/", self._envelope)
        return app

    async def _envelope(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes the SDK's gzip
        self.raw.append(body)
        # An envelope header line, then an item header line and a payload line per item.
        items = body.split(b"\n")[1:]
        for header_line, payload in zip(items[0::2], items[1::2], strict=False):
            if header_line.strip() and json.loads(header_line).get("type") == "event":
                self.events.append(json.loads(payload))
        return web.json_response({"id": "0"})


async def flush(client: Any) -> None:
    """Export queued spans (on the loop, as the exporter does) and events (off it, so the
    receivers can answer)."""
    telemetry = client.app[TELEMETRY]
    if telemetry.tracing is not None:
        await telemetry.tracing.flush()
    if sentry_sdk.is_initialized():
        await asyncio.to_thread(sentry_sdk.flush, 5)


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nothing arrived")
