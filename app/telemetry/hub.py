"""`Telemetry`: metrics, tracing, Sentry and security events of one application, built once by
the app factory and reached from the middlewares and the domain's event callback."""

from __future__ import annotations

from opentelemetry import trace

from app.config import Settings
from app.telemetry import sentry
from app.telemetry.metrics import Metrics
from app.telemetry.mongo import CommandTelemetry
from app.telemetry.security import SecurityEvents
from app.telemetry.span_export import SpanCounts
from app.telemetry.tracing import Tracing, exception_event


class Telemetry:
    def __init__(self, settings: Settings, *, version: str) -> None:
        self._settings = settings
        self._version = version
        self.metrics = Metrics(version=version, commit=settings.commit)
        self.security = SecurityEvents(self.metrics)
        self.tracing = (
            Tracing(settings, version=version) if settings.otel_traces_endpoint else None
        )
        if self.tracing is not None:
            self.metrics.registry.register(SpanCounts(self.tracing.exporter))

    def mongo_listener(self) -> CommandTelemetry:
        return CommandTelemetry(self.metrics, self.tracing)

    def unhandled(self, exc: BaseException) -> None:
        """An exception the error middleware turned into a 500: on the span and to Sentry."""
        span = trace.get_current_span()
        if span.is_recording():
            # Not the SDK's record_exception: it exports the raw message and stack, and a
            # message can hold whatever the failing code was given (a password, a token).
            span.add_event("exception", exception_event(exc))
        sentry.capture_exception(exc)

    def start(self) -> None:
        """On the running loop (the span exporter's task and HTTP session live there)."""
        sentry.init_sentry(self._settings, release=self._version)
        if self.tracing is not None:
            self.tracing.start()

    def close(self) -> None:
        """Flush what is queued: spans to the collector, events to Sentry."""
        if self.tracing is not None:
            self.tracing.shutdown()
        sentry.close_sentry()
