"""The request id middleware and the telemetry middleware (the error middleware lives in
`errors.py`).

Order, outermost first: request id → telemetry (timing, span, metrics, access line) → edge
headers → errors → authentication → rate limit. The request id middleware sees every response,
including those the error middleware builds, so none leaves without `X-Request-Id`; the telemetry
middleware sees the final status of every request.
"""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id
from ulid import ULID

from app.telemetry import RequestContext, Telemetry, current_request, fields
from app.web.handler import Handler
from app.web.keys import REQUEST_CONTEXT

log = logging.getLogger("app.access")

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED_ROUTE = "__unmatched__"
METRICS_PATH = "/metrics"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def route_template(request: web.Request) -> str:
    """`/content/{id}`: the template, never the raw path, so labels and logs stay bounded."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return f"req_{ULID()}"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    template = route_template(request)
    ctx = RequestContext(
        request_id=_request_id(request),
        route=template if template == UNMATCHED_ROUTE else f"{request.method} {template}",
        template=template,
    )
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


def telemetry_middleware(telemetry: Telemetry) -> web.typedefs.Middleware:
    metrics, tracing = telemetry.metrics, telemetry.tracing
    in_flight = metrics.in_flight

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == METRICS_PATH:  # the scrape does not measure itself
            return await handler(request)
        ctx = request[REQUEST_CONTEXT]
        span = token = None
        if tracing is not None:
            span, token = tracing.start_server_span(
                ctx.route or UNMATCHED_ROUTE,
                request.headers,
                {"http.request.method": request.method, "http.route": ctx.template,
                 "url.path": request.path[:256], "request.id": ctx.request_id},
            )
            if span is not None:
                span_context = span.get_span_context()
                ctx.trace_id = format_trace_id(span_context.trace_id)
                ctx.span_id = format_span_id(span_context.span_id)
        started = time.perf_counter()
        status = 499  # the client went away before an answer
        in_flight.inc()
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            seconds = time.perf_counter() - started
            in_flight.dec()
            metrics.observe_request(request.method, ctx.template, status, seconds, ctx.trace_id)
            if span is not None:
                span.set_attribute("http.response.status_code", status)
                if ctx.user_id is not None:
                    span.set_attribute("enduser.id", ctx.user_id)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
                span.end()
            if token is not None:
                tracing.detach(token)  # type: ignore[union-attr]
            log.log(
                logging.ERROR if status >= 500 else logging.INFO,
                "request.completed",
                extra=fields(
                    method=request.method,
                    path=request.path[:256],
                    statusCode=status,
                    durationMs=round(seconds * 1000, 3),
                ),
            )

    return middleware
