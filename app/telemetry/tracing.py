"""OpenTelemetry traces: server spans named by route template, MongoDB command spans as their
children, exported over OTLP/HTTP. Off (and free) unless an endpoint is configured.

Sampling is decided before the SDK is touched: an unsampled request creates no span object and
attaches no context; its database commands get no spans either.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, SpanContext, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.config import Settings

_PROPAGATOR = TraceContextTextMapPropagator()


class _ServerSpansDecided(Sampler):
    """Server spans were already decided by `Tracing.start_server_span`: record them. Every other
    span (database commands) follows its parent, and a root one the configured rule."""

    def __init__(self, ratio: float, rule: str) -> None:
        root: Sampler = TraceIdRatioBased(ratio) if rule.endswith("traceidratio") else (
            ALWAYS_ON if rule.endswith("always_on") else _NEVER)
        self._others = ParentBased(root)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None,
                      links=None, trace_state=None) -> SamplingResult:  # type: ignore[no-untyped-def]
        if kind is SpanKind.SERVER:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._others.should_sample(parent_context, trace_id, name, kind, attributes,
                                          links, trace_state)

    def get_description(self) -> str:
        return f"ServerSpansDecided({self._others.get_description()})"


class _Never(Sampler):
    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None,
                      links=None, trace_state=None) -> SamplingResult:  # type: ignore[no-untyped-def]
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "Never"


_NEVER = _Never()


class Tracing:
    def __init__(self, settings: Settings, *, version: str) -> None:
        assert settings.otel_traces_endpoint is not None
        self._rule = settings.otel_sampler
        self._ratio = settings.otel_sampler_ratio
        resource = Resource.create({
            "service.name": settings.otel_service_name,
            "service.version": version,
            "deployment.environment": settings.app_env,
        })
        self.provider = TracerProvider(
            resource=resource, sampler=_ServerSpansDecided(self._ratio, self._rule)
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_traces_endpoint))
        )
        self.tracer = self.provider.get_tracer("catalog-api", version)

    def _decide(self, parent: SpanContext | None) -> bool:
        if parent is not None and self._rule.startswith("parentbased_"):
            return parent.trace_flags.sampled
        if self._rule.endswith("always_on"):
            return True
        if self._rule.endswith("always_off"):
            return False
        return random.random() < self._ratio

    def start_server_span(
        self, name: str, headers: Mapping[str, str], attributes: dict[str, str | int]
    ) -> tuple[Span | None, object | None]:
        """The server span and the context token to detach at the end, or (None, None) when
        the request is not sampled. W3C traceparent from the caller is continued."""
        parent_ctx: Context | None = None
        parent: SpanContext | None = None
        if "traceparent" in headers:
            parent_ctx = _PROPAGATOR.extract(headers)
            candidate = trace.get_current_span(parent_ctx).get_span_context()
            parent = candidate if candidate.is_valid else None
        if not self._decide(parent):
            # Nothing at all: database spans are only made under a sampled server span (see
            # CommandTelemetry), so an unsampled request needs no marker either.
            return None, None
        span = self.tracer.start_span(name, context=parent_ctx, kind=SpanKind.SERVER,
                                      attributes=attributes)
        return span, otel_context.attach(trace.set_span_in_context(span, parent_ctx))

    @staticmethod
    def finish_server_span(span: Span, token: object, status: int, user_id: str | None) -> None:
        """End the span started by `start_server_span` with the request's outcome."""
        span.set_attribute("http.response.status_code", status)
        if user_id is not None:
            span.set_attribute("enduser.id", user_id)
        if status >= 500:
            span.set_status(StatusCode.ERROR)
        span.end()
        otel_context.detach(token)  # type: ignore[arg-type]

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes what is queued
