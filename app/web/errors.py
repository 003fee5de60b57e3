"""The one place where failures become HTTP: domain codes to statuses, aiohttp's HTTP exceptions
to envelope codes, and anything unexpected to a logged 500 `internal`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from app.domain.errors import AppError
from app.telemetry import fields, get_logger
from app.web.envelope import json_error
from app.web.handler import Handler
from app.web.keys import TELEMETRY

log = get_logger("app.errors")

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
    "conflict": 409,
    "request.too_large": 413,
    "request.unsupported_media_type": 415,
    "ratelimit.exceeded": 429,
    "internal": 500,
    "dependency.unavailable": 503,
}

# aiohttp raises these itself (routing, body size); give them our codes and plain messages.
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("validation.failed", "The request is invalid"),
    401: ("auth.unauthorized", "Authentication required"),
    403: ("auth.forbidden", "Not allowed"),
    404: ("resource.not_found", "No such resource"),
    405: ("method.not_allowed", "Method not allowed on this resource"),
    413: ("request.too_large", "The request body is too large"),
    415: ("request.unsupported_media_type", "Unsupported media type"),
    503: ("dependency.unavailable", "Service unavailable; retry later"),
}


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    code, message = _HTTP_ERRORS.get(
        exc.status, ("internal", "Internal error") if exc.status >= 500 else
        ("validation.failed", exc.reason)
    )
    response = json_error(request, exc.status, code, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AppError as exc:
        status = STATUS_BY_CODE.get(exc.code, 500)
        if status >= 500:
            cause = exc.__cause__
            log.error(exc.code, extra=fields(
                reason=exc.message, cause=type(cause).__name__ if cause else None))
        response = json_error(request, status, exc.code, exc.message, exc.details)
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and 304s are answers, not failures
            raise
        return _from_http_exception(request, exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # The message stays generic; the traceback goes to the log, tied by requestId.
        log.exception("request.unhandled_error")
        request.app[TELEMETRY].unhandled(exc)
        return json_error(request, 500, "internal", "Internal server error")
