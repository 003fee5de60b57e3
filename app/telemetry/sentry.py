"""Sentry: initialised only when SENTRY_DSN is set, with explicit integrations only (our error
middleware decides what is an error, so nothing is captured twice).

Deny by default: no local variables (a frame's variables can hold anything, a secret inside an
object's repr included), no request bodies, no cookies, no breadcrumbs, no query strings, only
the headers in ALLOWED_HEADERS; what is left (messages, tags) is scrubbed of anything that looks
like a credential. Captured: unhandled exceptions (the 5xx path) and security events
(refresh-token reuse, a rate-limit herd). Never 4xx, never a client that went away. Every event
carries request_id, route, trace_id and the user id (never an email)."""

from __future__ import annotations

from typing import Any, Literal

import sentry_sdk
from sentry_sdk.types import Event, Hint

from app.config import Settings
from app.telemetry.logging import current_request
from app.telemetry.redact import redact

# Sentry's event levels.
Level = Literal["fatal", "critical", "error", "warning", "info", "debug"]

# Headers that help debugging and never carry a credential.
ALLOWED_HEADERS = frozenset({"accept", "content-type", "content-length", "user-agent", "origin",
                             "x-request-id"})
# Event keys that are kept; anything else an SDK version or integration adds is dropped.
_ALLOWED_KEYS = frozenset({
    "event_id", "timestamp", "level", "logger", "platform", "message", "logentry", "exception",
    "tags", "user", "release", "environment", "server_name", "sdk", "contexts", "fingerprint",
    "transaction", "request", "type", "modules",
})
_ALLOWED_CONTEXTS = frozenset({"trace", "runtime", "os"})


def _request(request: Any) -> dict[str, Any] | None:
    if not isinstance(request, dict):
        return None
    headers = request.get("headers")
    kept = {
        "method": request.get("method"),
        "url": str(request.get("url") or "").partition("?")[0],
        "headers": {k: v for k, v in headers.items() if str(k).lower() in ALLOWED_HEADERS}
        if isinstance(headers, dict) else {},
    }
    return {key: value for key, value in kept.items() if value}


def _strip_frames(event: dict[str, Any]) -> None:
    values = (event.get("exception") or {}).get("values") or []
    for value in values:
        for frame in (value.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def before_send(event: Event, hint: Hint) -> Event | None:
    scrubbed: dict[str, Any] = {k: v for k, v in event.items() if k in _ALLOWED_KEYS}
    request = _request(scrubbed.pop("request", None))
    if request:
        scrubbed["request"] = request
    contexts = scrubbed.get("contexts")
    if isinstance(contexts, dict):
        scrubbed["contexts"] = {k: v for k, v in contexts.items() if k in _ALLOWED_CONTEXTS}
    _strip_frames(scrubbed)  # belt and braces: include_local_variables is off
    redacted: Event = redact(scrubbed)
    return redacted


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
        before_send_transaction=before_send,
        max_breadcrumbs=0,
        include_local_variables=False,
        max_request_body_size="never",
        attach_stacktrace=False,
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
            # Sentry's own trace context would name a trace of its own: link to ours instead.
            scope.set_context("trace", {"trace_id": ctx.trace_id, "span_id": ctx.span_id})
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


def capture_message(message: str, level: Level, **tags: Any) -> None:
    if not sentry_sdk.is_initialized():
        return
    with sentry_sdk.new_scope() as scope:
        _tag(scope, {key: value for key, value in tags.items() if value is not None})
        sentry_sdk.capture_message(message, level=level)


def close_sentry(timeout: float = 2.0) -> None:
    if sentry_sdk.is_initialized():
        sentry_sdk.flush(timeout=timeout)
        sentry_sdk.get_client().close(timeout=timeout)
