"""What every response carries at the edge: security headers, and CORS for the extension, all
computed once at start (the request middleware in app.web.middlewares adds them, with
`X-Request-Id`, to every answer, those built from errors included).

CORS: exact origins from CORS_ALLOWED_ORIGINS (e.g. `chrome-extension://<id>`). An allowed origin
gets Access-Control-Allow-Origin and the exposed headers; a foreign origin gets no CORS headers
and is otherwise served as usual (CORS is the browser's check, not an access control). Preflight
OPTIONS requests are answered by a route added to every resource, so they show up in logs and
metrics under their route template.
"""

from __future__ import annotations

from aiohttp import web
from multidict import istr

from app.config import Settings

EXPOSED = "X-Request-Id, ETag, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match, X-Request-Id"
PREFLIGHT_MAX_AGE = "600"
Headers = tuple[tuple[str, str], ...]
# Header names as `istr`: a multidict hashes a plain str name case-folded on every insert, an
# istr's once (a third of the cost of adding the edge headers to each answer).
_PREFLIGHT: Headers = ((istr("Access-Control-Allow-Methods"), ALLOWED_METHODS),
                       (istr("Access-Control-Allow-Headers"), ALLOWED_HEADERS),
                       (istr("Access-Control-Max-Age"), PREFLIGHT_MAX_AGE))
_ALLOW_ORIGIN = istr("Access-Control-Allow-Origin")
_EXPOSE = (istr("Access-Control-Expose-Headers"), EXPOSED)


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


class EdgeHeaders:
    """The edge headers as ready-made pairs, added with `extend` (no lookups: no handler sets
    them, so nothing is duplicated)."""

    __slots__ = ("_any_origin", "_origins", "always")

    def __init__(self, settings: Settings) -> None:
        self.always: Headers = tuple(
            (istr(name), value) for name, value in security_headers(settings).items())
        self._origins = frozenset(settings.cors_allowed_origins)
        # development only; the configuration refuses it in production
        self._any_origin = "*" in self._origins

    def cors(self, origin: str, method: str) -> Headers:
        """CORS headers for a request with this Origin: none for a foreign origin."""
        if not (self._any_origin or origin in self._origins):
            return ()
        headers = ((_ALLOW_ORIGIN, origin), _EXPOSE)
        return headers + _PREFLIGHT if method == "OPTIONS" else headers


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: 204; the middleware adds the Access-Control-* headers when the origin is
    allowed, and a browser refuses the real request when they are missing."""
    return web.Response(status=204)


def add_implicit_routes(app: web.Application) -> None:
    """OPTIONS (the preflight) on every resource, and HEAD wherever GET is served: the same
    handler, whose body aiohttp leaves out."""
    for resource in app.router.resources():
        if not isinstance(resource, web.Resource):  # static files: none are served
            continue
        methods = {route.method: route.handler for route in resource}
        if "OPTIONS" not in methods:
            resource.add_route("OPTIONS", preflight)
        if "GET" in methods and "HEAD" not in methods:
            resource.add_route("HEAD", methods["GET"])
