"""Telemetry is reached through this package only: logs and security events now; metrics,
traces and Sentry plug in here."""

from app.telemetry.logging import (
    RequestContext,
    current_request,
    fields,
    get_logger,
    setup_logging,
)
from app.telemetry.security import record_auth_event, record_rate_limited

__all__ = [
    "RequestContext",
    "current_request",
    "fields",
    "get_logger",
    "record_auth_event",
    "record_rate_limited",
    "setup_logging",
]
