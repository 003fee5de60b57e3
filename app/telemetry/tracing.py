"""OpenTelemetry traces: server spans named by route template, MongoDB command spans as their
children, exported over OTLP/HTTP (protobuf). Off (and free) unless an endpoint is configured.

Sampling is decided first, from the caller's traceparent and the configured rule: an unsampled
request creates no span object and attaches no context; its database commands get no spans.

A sampled span is our own small record, not an SDK span: the SDK's span, its processor queue and
encoder and the exporter thread cost ~150 µs of this process's CPU per span. `RecordedSpan` is an
`opentelemetry.trace.Span` (so `trace.get_current_span()` finds it in the OpenTelemetry context),
encoded to OTLP protobuf once when it ends (app.telemetry.otlp) and posted in batches from the
event loop (app.telemetry.span_export). The API package is used for the context, the W3C
propagator and the id formatting; the SDK is not used.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from app.config import Settings
from app.identity import NAME
from app.telemetry import otlp
from app.telemetry.redact import redact_text, user_agent_text
from app.telemetry.span_export import SpanExporter

_PROPAGATOR = TraceContextTextMapPropagator()
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_LOW64 = (1 << 64) - 1
_KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST",
                            "PUT", "TRACE", "QUERY"})
_STATUS = {StatusCode.UNSET: otlp.STATUS_UNSET, StatusCode.OK: 1,
           StatusCode.ERROR: otlp.STATUS_ERROR}
_KINDS = {SpanKind.SERVER: otlp.KIND_SERVER, SpanKind.CLIENT: otlp.KIND_CLIENT}
_MAX_HEADER_VALUE = 256


def exception_event(exc: BaseException) -> dict[str, str]:
    """The semantic-convention exception event, redacted: a message can hold whatever the
    failing code was given (a password, a token)."""
    return {
        "exception.type": type(exc).__qualname__,
        "exception.message": redact_text(str(exc))[:1000],
        "exception.stacktrace": redact_text("".join(traceback.format_exception(exc))),
    }


class RecordedSpan(Span):
    """A sampled span: attributes, events and status until `end`, then encoded and queued."""

    def __init__(self, tracing: Tracing, name: str, kind: int, trace_id: int, parent_id: int,
                 attributes: dict[str, otlp.AttributeValue], *, trace_state: str = "",
                 remote_parent: bool = False) -> None:
        self._tracing = tracing
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = random.getrandbits(64) or 1
        self.parent_id = parent_id
        self.trace_state = trace_state
        self.flags = otlp.FLAG_SAMPLED | otlp.FLAG_HAS_IS_REMOTE | (
            otlp.FLAG_IS_REMOTE if remote_parent else 0)
        self.attributes = attributes
        self.events: list[tuple[str, int, dict[str, otlp.AttributeValue]]] = []
        self.status = otlp.STATUS_UNSET
        self.status_message = ""
        self.start_ns = time.time_ns()
        self._context: SpanContext | None = None
        self._ended = False

    def get_span_context(self) -> SpanContext:
        if self._context is None:
            self._context = SpanContext(self.trace_id, self.span_id, is_remote=False,
                                        trace_flags=_SAMPLED)
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attribute(self, key: str, value: Any) -> None:
        if not self._ended and value is not None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Attributes = None,
                  timestamp: int | None = None) -> None:
        if not self._ended:
            self.events.append((name, timestamp or time.time_ns(), {
                key: value for key, value in (attributes or {}).items()
                if isinstance(value, str | bool | int | float)}))

    def update_name(self, name: str) -> None:
        if not self._ended:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended:
            return
        code = status.status_code if isinstance(status, Status) else status
        if isinstance(status, Status):
            description = status.description
        self.status = _STATUS[code]
        self.status_message = description or "" if code is StatusCode.ERROR else ""

    def record_exception(self, exception: BaseException, attributes: Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        # Redacted like every exception we export; the raw text never leaves.
        self.add_event("exception", {**exception_event(exception), **(attributes or {})},
                       timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self._tracing.export(self, end_time or time.time_ns())


class Tracing:
    def __init__(self, settings: Settings, *, version: str) -> None:
        assert settings.otel_traces_endpoint is not None
        rule = settings.otel_sampler
        self._parent_based = rule.startswith("parentbased_")
        self._always = rule.endswith("always_on")
        self._never = rule.endswith("always_off")
        # TraceIdRatioBased: sampled when the trace id's low 64 bits fall under ratio * 2**64,
        # so every service with the same ratio makes the same decision for a trace.
        self._bound = round(settings.otel_sampler_ratio * (_LOW64 + 1))
        resource, scope = otlp.scope_prefix(
            _resource(settings, version), NAME, version)
        self.exporter = SpanExporter(settings.otel_traces_endpoint,
                                     settings.otel_exporter_headers, resource, scope)

    def start(self) -> None:
        """On the running loop, before the first request."""
        self.exporter.start()

    def _root_sampled(self, trace_id: int) -> bool:
        if self._always:
            return True
        if self._never:
            return False
        return trace_id & _LOW64 < self._bound

    def start_server_span(
        self,
        name: str,
        headers: Mapping[str, str],
        attributes: Mapping[str, str | int] | Callable[[], Mapping[str, str | int]],
    ) -> tuple[RecordedSpan | None, Token[Context] | None]:
        """The server span and the context token to detach at the end, or (None, None) when
        the request is not sampled. A W3C traceparent from the caller is continued.
        `attributes` may be a callable, so an unsampled request does not build them."""
        parent_ctx: Context | None = None
        parent: SpanContext | None = None
        if "traceparent" in headers:
            parent_ctx = _PROPAGATOR.extract(headers)
            candidate = trace.get_current_span(parent_ctx).get_span_context()
            parent = candidate if candidate.is_valid else None
        if parent is not None:
            trace_id = parent.trace_id
            sampled = (parent.trace_flags.sampled if self._parent_based
                       else self._root_sampled(trace_id))
        else:
            low = random.getrandbits(64)
            if not self._root_sampled(low):
                # Nothing at all: database spans are only made under a sampled server span
                # (see CommandTelemetry), so an unsampled request needs no marker either.
                return None, None
            trace_id = random.getrandbits(64) << 64 | low
            sampled = True
        if not sampled:
            return None, None
        attrs: dict[str, otlp.AttributeValue] = dict(
            attributes() if callable(attributes) else attributes)
        span = RecordedSpan(
            self, _server_span_name(name, attrs, headers), otlp.KIND_SERVER, trace_id,
            parent.span_id if parent else 0, attrs,
            trace_state=parent.trace_state.to_header() if parent else "",
            remote_parent=parent is not None,
        )
        return span, otel_context.attach(trace.set_span_in_context(span, parent_ctx))

    @staticmethod
    def finish_server_span(
        span: Span, token: Token[Context] | None, status: int, user_id: str | None
    ) -> None:
        """End the span started by `start_server_span` with the request's outcome."""
        span.set_attribute("http.response.status_code", status)
        if user_id is not None:
            span.set_attribute("enduser.id", user_id)
        if status >= 500:  # 4xx is the client's error, not the server span's
            span.set_attribute("error.type", str(status))
            span.set_status(StatusCode.ERROR)
        span.end()
        if token is not None:
            otel_context.detach(token)

    @staticmethod
    def current_span() -> RecordedSpan | None:
        """The request's span when it is being recorded (child spans are only made under it)."""
        span = trace.get_current_span()
        return span if isinstance(span, RecordedSpan) and span.is_recording() else None

    def start_child(self, parent: RecordedSpan, name: str, kind: SpanKind,
                    attributes: dict[str, otlp.AttributeValue]) -> RecordedSpan:
        """A span under `parent` that is not made current (database commands)."""
        return RecordedSpan(self, name, _KINDS.get(kind, 1), parent.trace_id, parent.span_id,
                            attributes, trace_state=parent.trace_state)

    def export(self, span: RecordedSpan, end_ns: int) -> None:
        self.exporter.submit(otlp.encode_span(
            trace_id=span.trace_id, span_id=span.span_id, parent_id=span.parent_id,
            trace_state=span.trace_state, name=span.name, kind=span.kind,
            start_ns=span.start_ns, end_ns=end_ns, attrs=span.attributes, events=span.events,
            status=span.status, status_message=span.status_message, flags=span.flags,
        ))

    async def flush(self) -> None:
        """Export what is queued now (tests; shutdown goes through `shutdown`)."""
        await self.exporter.flush()

    def shutdown(self) -> None:
        """Off the loop: export what is queued, then stop."""
        self.exporter.close()


def _server_span_name(given: str, attrs: dict[str, Any], headers: Mapping[str, str]) -> str:
    """Completes the attributes to the HTTP server semantic conventions and names the span
    `{method} {http.route}` (the method alone without a route; HTTP for an unknown method)."""
    method = attrs.get("http.request.method")
    if method is None:
        return given
    if method not in _KNOWN_METHODS:
        attrs["http.request.method"] = "_OTHER"
        attrs["http.request.method_original"] = str(method)[:32]
        method = "HTTP"
    route = attrs.get("http.route")
    if not (isinstance(route, str) and route.startswith("/")):
        attrs.pop("http.route", None)  # unmatched: no template, and a raw path is unbounded
        route = None
    attrs.setdefault("url.scheme", "http")  # TLS ends before this server
    host = headers.get("Host")
    if host:
        address, port = _host_port(host[:_MAX_HEADER_VALUE])
        attrs["server.address"] = address
        if port is None:
            port = 443 if attrs["url.scheme"] == "https" else 80
        if port:
            attrs["server.port"] = port
    agent = headers.get("User-Agent")
    if agent:  # what the access line carries: cut, with any credential in it filtered
        attrs["user_agent.original"] = user_agent_text(agent)
    return f"{method} {route}" if route else str(method)


def _host_port(host: str) -> tuple[str, int | None]:
    """The Host header's name and port: None when it names no port, 0 when the port is not one
    (`a:²`, `a:99999`): a client's header must never fail the request or reach the span as a
    number it is not."""
    name, colon, port = host.rpartition(":")
    if not colon or (name.startswith("[") and not name.endswith("]")) or (
            ":" in name and not name.startswith("[")):  # no port, or an IPv6 address bare
        return host.strip("[]"), None
    if port.isascii() and port.isdigit() and 0 < int(port) < 65536:
        return name.strip("[]"), int(port)
    return name.strip("[]"), 0


def _resource(settings: Settings, version: str) -> dict[str, otlp.AttributeValue]:
    return {
        **dict(settings.otel_resource_attributes),  # e.g. k8s.pod.name; ours win on a clash
        "service.name": settings.otel_service_name,
        "service.version": version,
        "deployment.environment": settings.app_env,
        "telemetry.sdk.language": "python",
    }
