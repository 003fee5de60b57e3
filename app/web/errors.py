"""The one place where failures become HTTP: domain codes to statuses, aiohttp's HTTP exceptions
to envelope codes, and anything unexpected to a logged 500 `internal`."""

from __future__ import annotations

from aiohttp import web

from app.domain.errors import AppError
from app.telemetry import fields, get_logger
from app.web.envelope import json_error
from app.web.keys import TELEMETRY

log = get_logger("app.errors")
CLIENT_CLOSED = 499  # nginx's name for it: the client closed the connection first


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()

STATUS_BY_CODE: dict[str, int] = {
    "request.malformed_json": 400,
    "validation.failed": 400,
    "auth.unauthorized": 401,
    "auth.invalid_credentials": 401,
    "auth.token_expired": 401,
    "auth.refresh.reused": 401,
    "auth.forbidden": 403,
    "auth.registration_disabled": 403,
    "resource.not_found": 404,
    "method.not_allowed": 405,
    "request.timeout": 408,
    "conflict": 409,
    "request.too_large": 413,
    "request.unsupported_media_type": 415,
    "ratelimit.exceeded": 429,
    "internal": 500,
    "dependency.unavailable": 503,
    "auth.busy": 503,
}

# aiohttp raises these itself (routing, body size); give them our codes and plain messages.
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("validation.failed", "The request is invalid"),
    401: ("auth.unauthorized", "Authentication required"),
    403: ("auth.forbidden", "Not allowed"),
    404: ("resource.not_found", "No such resource"),
    405: ("method.not_allowed", "Method not allowed on this resource"),
    408: ("request.timeout", "The request body did not arrive in time"),
    413: ("request.too_large", "The request body is too large"),
    415: ("request.unsupported_media_type", "Unsupported media type"),
    503: ("dependency.unavailable", "Service unavailable; retry later"),
}


# What aiohttp's exceptions carry that the envelope must keep (the rest is its text body's;
# the RateLimit-* headers are added to every answer by the request middleware).
_KEPT_HEADERS = ("Allow",)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    code, message = _HTTP_ERRORS.get(
        exc.status, ("internal", "Internal error") if exc.status >= 500 else
        ("validation.failed", exc.reason)
    )
    response = json_error(request, exc.status, code, message)
    for name in _KEPT_HEADERS:
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


def error_response(request: web.Request, exc: Exception) -> web.Response | None:
    """The envelope for what the handler (or the rate limiter before it) raised, or None when
    `exc` must travel on: redirects and 304s (answers, not failures) and a connection reset
    that was not the client leaving. Called from the `except` block that caught `exc`, so an
    unexpected error is logged with its traceback."""
    if isinstance(exc, AppError):
        status = STATUS_BY_CODE.get(exc.code, 500)
        # A designed 5xx (503: the database is out, password hashing is saturated) shows in the
        # access line and metrics of each request, and an outage once in dependency.down: a
        # line per refused request would make the log scale with traffic.
        if status == 500:
            cause = exc.__cause__
            log.error(exc.code, extra=fields(
                reason=exc.message, cause=type(cause).__name__ if cause else None))
        response = json_error(request, status, exc.code, exc.message, exc.details)
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    if isinstance(exc, web.HTTPException):
        return None if exc.status < 400 else _from_http_exception(request, exc)
    if isinstance(exc, ConnectionResetError):
        # aiohttp raises it when the peer closed mid-body; if our own transport is gone the
        # client left, which is the client's choice and not a fault of ours.
        return web.Response(status=CLIENT_CLOSED) if client_gone(request) else None
    # The message stays generic; the traceback goes to the log, tied by requestId.
    log.exception("request.unhandled_error")
    request.app[TELEMETRY].unhandled(exc)
    return json_error(request, 500, "internal", "Internal server error")
