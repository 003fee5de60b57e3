"""The one place security-relevant events are recorded. Today: a log line per event (refresh-token
reuse at error, the rest at info). Metrics and Sentry attach here, so callers never change.

Fields are ids only: never an email, password, hash or token."""

from __future__ import annotations

import logging
from typing import Any

from app.telemetry.logging import fields

log = logging.getLogger("app.security")

AUTH_EVENTS = (
    "login_success",
    "login_failure",
    "refresh_rotated",
    "refresh_reused",
    "registered",
    "logout",
)
_ERROR_EVENTS = {"refresh_reused": "auth.refresh.reused"}


def record_auth_event(event: str, **values: Any) -> None:
    if event not in AUTH_EVENTS:
        raise ValueError(f"unknown auth event {event!r}")
    extra = {_camel(key): value for key, value in values.items() if value is not None}
    if event in _ERROR_EVENTS:
        log.error(_ERROR_EVENTS[event], extra=fields(event=event, **extra))
    else:
        log.info(f"auth.{event}", extra=fields(event=event, **extra))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def record_rate_limited(scope: str, client: str, user_id: str | None) -> None:
    """A key went over its limit: called once per key per window, so a flood does not flood
    the logs."""
    extra = {"scope": scope, "client": client}
    if user_id is not None:
        extra["userId"] = user_id
    log.warning("ratelimit.exceeded", extra=fields(**extra))
