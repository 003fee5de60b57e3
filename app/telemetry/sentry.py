"""Sentry: initialised only when SENTRY_DSN is set, with explicit integrations only (our error
middleware decides what is an error, so nothing is captured twice), and a `before_send` that
scrubs credentials from everything it sends.

Captured: unhandled exceptions (the 5xx path) and security events (refresh-token reuse, a
rate-limit herd). Never 4xx. Every event carries request_id, route, trace_id and the user id
(never an email)."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.types import Event, Hint

from app.config import Settings
from app.telemetry.logging import current_request
from app.telemetry.redact import redact


def before_send(event: Event, hint: Hint) -> Event | None:
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)  # request bodies (auth bodies above all) are never sent
        request.pop("cookies", None)
    return redact(event)  # type: ignore[no-any-return]


def init_sentry(settings: Settings, *, release: str) -> bool:
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.reveal(),
        environment=settings.sentry_environment or settings.app_env,
        release=release,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[],
        before_send=before_send,
        max_breadcrumbs=0,
    )
    return True


def _tag(scope: sentry_sdk.Scope, extra: dict[str, Any]) -> None:
    ctx = current_request.get()
    if ctx is not None:
        scope.set_tag("request_id", ctx.request_id)
        if ctx.route:
            scope.set_tag("route", ctx.route)
        if ctx.trace_id:
            scope.set_tag("trace_id", ctx.trace_id)
        if ctx.user_id:
            scope.set_user({"id": ctx.user_id})
    for key, value in extra.items():
        if key == "user_id":
            scope.set_user({"id": value})
        else:
            scope.set_tag(key, value)


def capture_exception(exc: BaseException) -> None:
    if not sentry_sdk.is_initialized():
        return
    with sentry_sdk.new_scope() as scope:
        _tag(scope, {})
        sentry_sdk.capture_exception(exc)


def capture_message(message: str, level: str, **tags: Any) -> None:
    if not sentry_sdk.is_initialized():
        return
    with sentry_sdk.new_scope() as scope:
        _tag(scope, {key: value for key, value in tags.items() if value is not None})
        sentry_sdk.capture_message(message, level=level)  # type: ignore[arg-type]


def close_sentry(timeout: float = 2.0) -> None:
    if sentry_sdk.is_initialized():
        sentry_sdk.flush(timeout=timeout)
        sentry_sdk.get_client().close(timeout=timeout)
