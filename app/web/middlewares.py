"""Request id and access-log middlewares (the error middleware lives in `errors.py`).

Order, outermost first: request id → access log + timing → errors. The request id middleware
sees every response, including those the error middleware builds, so none leaves without
`X-Request-Id`.
"""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web
from ulid import ULID

from app.telemetry import RequestContext, current_request, fields, get_logger
from app.web.handler import Handler
from app.web.keys import REQUEST_CONTEXT

log = get_logger("app.access")

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED_ROUTE = "__unmatched__"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def route_template(request: web.Request) -> str:
    """`"GET /content/{id}"`: the template, never the raw path, so labels and logs stay bounded."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED_ROUTE
    return f"{request.method} {resource.canonical}"


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return f"req_{ULID()}"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = RequestContext(request_id=_request_id(request), route=route_template(request))
    request[REQUEST_CONTEXT] = ctx
    token = current_request.set(ctx)
    try:
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = ctx.request_id
        return response
    except web.HTTPException as exc:  # 304s and redirects pass through the error middleware
        exc.headers[REQUEST_ID_HEADER] = ctx.request_id
        raise
    finally:
        current_request.reset(token)


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 499  # the client went away before an answer
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        log.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "request.completed",
            extra=fields(
                method=request.method,
                path=request.path[:256],
                statusCode=status,
                durationMs=duration_ms,
            ),
        )
