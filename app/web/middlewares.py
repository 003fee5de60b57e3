"""Request ids, and the one request middleware.

One middleware does, in this order: the request id and its log context; timing, the span,
metrics and the access line (around everything below, so they see the final status); the
error envelope (everything raised below becomes one); authentication and the rate limit; then
the handler; and on the way out the edge headers (request id, security, CORS, RateLimit-*). One
frame instead of four: aiohttp wraps the handler in a coroutine per middleware (and adds one of
its own when there is any), and every request pays for each.
"""

from __future__ import annotations

import re
import time

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import istr
from opentelemetry.trace import format_span_id, format_trace_id

from app.composition import Identify
from app.config import Settings
from app.domain.ids import new_request_id
from app.domain.ratelimit import Decision
from app.lifecycle import Lifecycle
from app.telemetry import (
    RequestContext,
    Telemetry,
    access_line,
    current_request,
    fields,
    get_logger,
    user_agent_text,
)
from app.web.client import client_address
from app.web.edge import EdgeHeaders
from app.web.errors import CLIENT_CLOSED, client_gone, error_response
from app.web.handler import Handler
from app.web.keys import REQUEST_CONTEXT
from app.web.ratelimit import Access, Limits

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = istr(REQUEST_ID_HEADER)  # hashed once, not on every lookup and insert
_ORIGIN = istr("Origin")
_USER_AGENT = istr("User-Agent")
UNMATCHED_ROUTE = "__unmatched__"
METRICS_PATH = "/metrics"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = get_logger("app.access")


def route_template(request: web.Request) -> str:
    """`/content/{id}`: the template, never the raw path, so labels and logs stay bounded."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(_REQUEST_ID)
    if incoming is not None and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


RouteLabels = dict[web.AbstractRoute, tuple[str, str]]


def request_context(request: web.Request, labels: RouteLabels) -> RequestContext:
    """The request's id (the client's own when well-formed) and route, stored on the request.
    `labels` remembers each route's (template, "METHOD template"): a bounded set."""
    route = request.match_info.route
    known = labels.get(route)
    if known is None:
        template = route_template(request)
        known = (template, template if template == UNMATCHED_ROUTE
                 else f"{request.method} {template}")
        # Unmatched requests get a new system route each; only real routes are remembered.
        if route.resource is not None and route.method == request.method:
            labels[route] = known
    ctx = RequestContext(request_id=_request_id(request), route=known[1], template=known[0])
    request[REQUEST_CONTEXT] = ctx
    return ctx


def request_middleware(
    settings: Settings, telemetry: Telemetry, lifecycle: Lifecycle,
    identify: Identify | None = None,
) -> Middleware:
    """`identify` names the caller (a user id) for per-user limits and the log context: the
    features' hook, when they authenticate anyone."""
    http, tracing = telemetry.metrics.http, telemetry.tracing
    finish_span = tracing.finish_server_span if tracing is not None else None
    edge = EdgeHeaders(settings)
    access = Access(Limits(settings), telemetry.security, identify)
    perf_counter = time.perf_counter
    trusted_hops = settings.trust_proxy_hops
    labels: RouteLabels = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx = request_context(request, labels)
        context_token = current_request.set(ctx)
        method, path = request.method, request.path  # properties: read once
        measured = path != METRICS_PATH  # the scrape does not measure itself
        span = token = None
        if measured:
            if tracing is not None:
                span, token = tracing.start_server_span(
                    ctx.route or UNMATCHED_ROUTE,
                    request.headers,
                    lambda: {  # built only for a sampled request
                        "http.request.method": method, "http.route": ctx.template,
                        "url.path": path[:256], "request.id": ctx.request_id,
                        "network.protocol.version": f"{request.version[0]}.{request.version[1]}",
                    },
                )
                if span is not None:
                    span_context = span.get_span_context()
                    ctx.trace_id = format_trace_id(span_context.trace_id)
                    ctx.span_id = format_span_id(span_context.span_id)
            http.in_flight += 1
        status = CLIENT_CLOSED  # unless an answer says otherwise (e.g. a cancelled handler)
        limit_headers: tuple[tuple[str, str], ...] = ()
        started = perf_counter()
        try:
            try:
                decision = access.admit(request)
                if decision is not None:
                    if not isinstance(decision, Decision):  # the shared backend's round trip
                        decision = await decision
                    # An error answer spent budget too: every answer says how much is left.
                    limit_headers = access.headers(decision)
                    if not decision.allowed:
                        raise access.refuse(request, decision)
                response = await handler(request)
            except Exception as exc:  # CancelledError is not one: the client left
                answer = error_response(request, exc)
                if answer is None:  # redirects and 304s travel as exceptions
                    raise
                response = answer
            # An answer the client will never read is recorded as the client leaving.
            status = CLIENT_CLOSED if client_gone(request) else response.status
        except web.HTTPException as exc:
            status = exc.status
            exc.headers.extend(_edge(edge, request, ctx, limit_headers))
            if lifecycle.draining:
                exc.force_close()
            raise
        finally:
            if measured:
                seconds = perf_counter() - started
                http.in_flight -= 1
                http.observe(method, ctx.template, status, seconds, ctx.trace_id)
                if span is not None and finish_span is not None:
                    finish_span(span, token, status, ctx.user_id)
                # Who asked (the address the rate limiter counted, computed once) and with
                # what: the questions of an investigation that starts from a requestId.
                client_ip = client_address(request, trusted_hops)
                user_agent = request.headers.get(_USER_AGENT)
                access_line(method, path, status, seconds * 1000, ctx, client_ip, user_agent)
                if status == CLIENT_CLOSED:
                    log.info("request.aborted", extra=fields(
                        reason="the client closed the connection before the answer",
                        clientIp=client_ip,
                        **({} if user_agent is None
                           else {"userAgent": user_agent_text(user_agent)})))
            current_request.reset(context_token)
        # _edge, inlined: every answer that is not an exception takes this way
        origin = request.headers.get(_ORIGIN)
        response.headers.extend((*edge.always, (_REQUEST_ID, ctx.request_id), *limit_headers)
                                if origin is None else
                                _edge(edge, request, ctx, limit_headers))
        if lifecycle.draining:  # `Connection: close`: reconnect to another instance
            response.force_close()
        return response

    return middleware


def _edge(
    edge: EdgeHeaders, request: web.Request, ctx: RequestContext,
    limit_headers: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, str], ...]:
    """Every header the edge adds, as one tuple for one `extend`."""
    origin = request.headers.get(_ORIGIN)
    cors = () if origin is None else edge.cors(origin, request.method)
    return (*edge.always, (_REQUEST_ID, ctx.request_id), *cors, *limit_headers)
