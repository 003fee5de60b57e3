"""`Telemetry`: metrics, tracing, Sentry and security events of one application, built once by
the app factory and reached from the middlewares and the domain's event callback."""

from __future__ import annotations

import traceback

from opentelemetry import trace

from app.config import Settings
from app.telemetry import sentry
from app.telemetry.metrics import Metrics
from app.telemetry.mongo import CommandTelemetry
from app.telemetry.redact import redact_text
from app.telemetry.security import SecurityEvents
from app.telemetry.tracing import Tracing


class Telemetry:
    def __init__(self, settings: Settings, *, version: str) -> None:
        self._settings = settings
        self._version = version
        self.metrics = Metrics(version=version, commit=settings.commit)
        self.security = SecurityEvents(self.metrics)
        self.tracing = (
            Tracing(settings, version=version) if settings.otel_traces_endpoint else None
        )

    def mongo_listener(self) -> CommandTelemetry:
        return CommandTelemetry(self.metrics, self.tracing.tracer if self.tracing else None)

    def unhandled(self, exc: BaseException) -> None:
        """An exception the error middleware turned into a 500: on the span and to Sentry."""
        span = trace.get_current_span()
        if span.is_recording():
            # Not span.record_exception: it exports the raw message and stack, and a message
            # can hold whatever the failing code was given (a password, a token).
            span.add_event("exception", {
                "exception.type": type(exc).__qualname__,
                "exception.message": redact_text(str(exc))[:1000],
                "exception.stacktrace": redact_text("".join(traceback.format_exception(exc))),
            })
        sentry.capture_exception(exc)

    def start(self) -> None:
        sentry.init_sentry(self._settings, release=self._version)

    def close(self) -> None:
        """Flush what is queued: spans to the collector, events to Sentry."""
        if self.tracing is not None:
            self.tracing.shutdown()
        sentry.close_sentry()
