"""Telemetry is reached through this package only: JSON logs with request context, Prometheus
metrics, OpenTelemetry traces, Sentry, and the security events that feed all of them."""

from app.telemetry.hub import Telemetry
from app.telemetry.logging import (
    RequestContext,
    access_line,
    current_request,
    fields,
    flush_logs,
    get_logger,
    setup_logging,
)
from app.telemetry.redact import user_agent_text

__all__ = [
    "RequestContext",
    "Telemetry",
    "access_line",
    "current_request",
    "fields",
    "flush_logs",
    "get_logger",
    "setup_logging",
    "user_agent_text",
]
