"""Telemetry is reached through this package only: logs now; metrics, traces and Sentry plug in
here."""

from app.telemetry.logging import (
    RequestContext,
    current_request,
    fields,
    get_logger,
    setup_logging,
)

__all__ = ["RequestContext", "current_request", "fields", "get_logger", "setup_logging"]
