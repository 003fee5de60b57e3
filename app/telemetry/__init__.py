"""Telemetry is reached through this package only: JSON logs with request context, Prometheus
metrics, OpenTelemetry traces, Sentry, and the security events that feed all of them."""

from app.telemetry.hub import Telemetry
from app.telemetry.logging import (
    RequestContext,
    current_request,
    fields,
    get_logger,
    setup_logging,
)

__all__ = [
    "RequestContext",
    "Telemetry",
    "current_request",
    "fields",
    "get_logger",
    "setup_logging",
]
