"""The outermost middleware: the request id and its log context, and what every response carries
at the edge: `X-Request-Id`, security headers, and CORS for the extension. It sees every
response, those the error middleware builds included, so none leaves without them.

CORS: exact origins from CORS_ALLOWED_ORIGINS (e.g. `chrome-extension://<id>`). An allowed origin
gets Access-Control-Allow-Origin and the exposed headers; a foreign origin gets no CORS headers
and is otherwise served as usual (CORS is the browser's check, not an access control). Preflight
OPTIONS requests are answered by a route added to every resource, so they show up in logs and
metrics under their route template.
"""

from __future__ import annotations

from aiohttp import web

from app.config import Settings
from app.telemetry import current_request
from app.web.handler import Handler
from app.web.keys import LIFECYCLE
from app.web.middlewares import REQUEST_ID_HEADER, request_context

EXPOSED = "X-Request-Id, ETag, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match, X-Request-Id"
PREFLIGHT_MAX_AGE = "600"


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        # JSON only: nothing may load, run or frame.
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Vary": "Origin",
    }
    if settings.app_env == "production":
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


def edge_middleware(settings: Settings) -> web.typedefs.Middleware:
    # Added with `extend` (no lookups): no handler sets these, so nothing is duplicated.
    always = tuple(security_headers(settings).items())
    origins = frozenset(settings.cors_allowed_origins)
    any_origin = "*" in origins  # development only; the configuration refuses it in production
    preflight = (("Access-Control-Allow-Methods", ALLOWED_METHODS),
                 ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
                 ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE))

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx = request_context(request)
        token = current_request.set(ctx)
        origin = request.headers.get("Origin")
        extra = (*always, (REQUEST_ID_HEADER, ctx.request_id))
        if origin is not None and (any_origin or origin in origins):
            extra += (("Access-Control-Allow-Origin", origin),
                      ("Access-Control-Expose-Headers", EXPOSED))
            if request.method == "OPTIONS":
                extra += preflight
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 304s pass through the error middleware as exceptions
            exc.headers.extend(extra)
            if request.app[LIFECYCLE].draining:
                exc.force_close()
            raise
        finally:
            current_request.reset(token)
        response.headers.extend(extra)
        if request.app[LIFECYCLE].draining:  # `Connection: close`: reconnect to another instance
            response.force_close()
        return response

    return middleware


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: 204; the middleware adds the Access-Control-* headers when the origin is
    allowed, and a browser refuses the real request when they are missing."""
    return web.Response(status=204)


def add_implicit_routes(app: web.Application) -> None:
    """OPTIONS (the preflight) on every resource, and HEAD wherever GET is served: the same
    handler, whose body aiohttp leaves out."""
    for resource in app.router.resources():
        methods = {route.method: route.handler for route in resource}
        if "OPTIONS" not in methods:
            resource.add_route("OPTIONS", preflight)
        if "GET" in methods and "HEAD" not in methods:
            resource.add_route("HEAD", methods["GET"])
