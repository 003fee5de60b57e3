"""A pymongo command listener: every command's duration into mongo_command_duration_seconds, a
debug log line, and a child span when the request it runs for is being traced. It is also told
of the operations that failed before any of their commands reached a server (`operation_failed`,
from the store's call boundary), which monitoring cannot see: so the histogram shows an outage.

Per client (passed as `event_listeners`), so every application has its own and nothing global is
registered. Async pymongo calls listeners inside the task that runs the command, so the current
span is the request's.
"""

from __future__ import annotations

import logging

from opentelemetry.trace import SpanKind, StatusCode
from pymongo import monitoring

from app.telemetry.logging import fields
from app.telemetry.metrics import Metrics
from app.telemetry.otlp import AttributeValue
from app.telemetry.tracing import RecordedSpan, Tracing

log = logging.getLogger("app.mongo")


class CommandTelemetry(monitoring.CommandListener):
    def __init__(self, metrics: Metrics | None, tracing: Tracing | None) -> None:
        self._metrics = metrics
        self._tracing = tracing
        self._spans: dict[tuple[int, object], RecordedSpan] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self._tracing is None:
            return
        parent = self._tracing.current_span()
        if parent is None:
            return  # only the commands of a traced request get spans
        collection = event.command.get(event.command_name)
        name = event.command_name + (f" {collection}" if isinstance(collection, str) else "")
        attributes: dict[str, AttributeValue] = {
            "db.system.name": "mongodb",
            "db.namespace": event.database_name,
            "db.operation.name": event.command_name,
        }
        if isinstance(collection, str):
            attributes["db.collection.name"] = collection
        if isinstance(event.connection_id, tuple):
            attributes["server.address"] = str(event.connection_id[0])
            port = event.connection_id[1]
            if port is not None:
                attributes["server.port"] = int(port)
        span = self._tracing.start_child(parent, name, SpanKind.CLIENT, attributes)
        self._spans[(event.request_id, event.connection_id)] = span

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._finish(event, "ok", None)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finish(event, "error", str(event.failure.get("codeName", "error"))
                     if isinstance(event.failure, dict) else "error")

    def operation_failed(self, command: str, seconds: float) -> None:
        """A failed operation none of whose commands a server failed (no server could be
        selected, connected to or authenticated with): one error sample of the command it sends
        first, with the time it waited."""
        if self._metrics is not None:
            self._metrics.mongo.labels(command, "error").observe(seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("mongo.command", extra=fields(
                command=command, outcome="error", durationMs=round(seconds * 1000, 3),
                sent=False))

    def _finish(
        self,
        event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent,
        outcome: str,
        error: str | None,
    ) -> None:
        seconds = event.duration_micros / 1_000_000
        if self._metrics is not None:
            self._metrics.mongo.labels(event.command_name, outcome).observe(seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("mongo.command", extra=fields(
                command=event.command_name, outcome=outcome, durationMs=round(seconds * 1000, 3)
            ))
        span = self._spans.pop((event.request_id, event.connection_id), None)
        if span is not None:
            if error is not None:
                span.set_attribute("error.type", error)  # the server's codeName
                span.set_status(StatusCode.ERROR, error)
            span.end()
