"""Request ids and the telemetry middleware.

Middlewares, outermost first: edge (request id, its log context, response headers) → telemetry
(timing, span, metrics, access line) → errors (everything becomes the JSON envelope) → access
(authentication, rate limit). The telemetry middleware sees the final status of every request.
"""

from __future__ import annotations

import random
import re
import time

from aiohttp import web
from opentelemetry.trace import format_span_id, format_trace_id

from app.telemetry import RequestContext, Telemetry, access_line, fields, get_logger
from app.web.errors import CLIENT_CLOSED, client_gone
from app.web.handler import Handler
from app.web.keys import REQUEST_CONTEXT

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED_ROUTE = "__unmatched__"
METRICS_PATH = "/metrics"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = get_logger("app.access")


def route_template(request: web.Request) -> str:
    """`/content/{id}`: the template, never the raw path, so labels and logs stay bounded."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every 10-bit value as its two base32 digits: a ULID is 13 lookups.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = tuple(range(120, -1, -10))


def new_request_id() -> str:
    """`req_` + a ULID (48-bit millisecond time, 80 random bits; ids need to be unique, not
    secret, so no system entropy is spent), encoded 10 bits at a time: a few times cheaper
    than a ULID object, and every request pays for it."""
    value = (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)
    return "req_" + "".join([_PAIRS[value >> shift & 1023] for shift in _SHIFTS])


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


def request_context(request: web.Request) -> RequestContext:
    """The request's id (the client's own when well-formed) and route, stored on the request."""
    template = route_template(request)
    ctx = RequestContext(
        request_id=_request_id(request),
        route=template if template == UNMATCHED_ROUTE else f"{request.method} {template}",
        template=template,
    )
    request[REQUEST_CONTEXT] = ctx
    return ctx


def telemetry_middleware(telemetry: Telemetry) -> web.typedefs.Middleware:
    http, tracing = telemetry.metrics.http, telemetry.tracing

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
        status = CLIENT_CLOSED  # unless an answer says otherwise (e.g. a cancelled handler)
        http.in_flight += 1
        try:
            response = await handler(request)
            # An answer the client will never read is recorded as the client leaving.
            status = CLIENT_CLOSED if client_gone(request) else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            seconds = time.perf_counter() - started
            http.in_flight -= 1
            http.observe(request.method, ctx.template, status, seconds, ctx.trace_id)
            if span is not None:
                tracing.finish_server_span(span, token, status, ctx.user_id)  # type: ignore[union-attr]
            access_line(request.method, request.path, status, round(seconds * 1000, 3))
            if status == CLIENT_CLOSED:
                log.info("request.aborted", extra=fields(
                    reason="the client closed the connection before the answer"))

    return middleware
