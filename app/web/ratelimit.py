"""Who is calling, and may they: the access middleware authenticates the caller, then rate
limits: per user when authenticated, per client address otherwise, and a much stricter
per-address bucket for the auth endpoints. Probes and metrics are never limited. Every limited
response carries the RateLimit-* headers; a rejection is 429 `ratelimit.exceeded` with
Retry-After. (One middleware for both: every request pays for each middleware frame.)"""

from __future__ import annotations

from aiohttp import web

from app.config import Settings
from app.domain.errors import AppError, RateLimited
from app.domain.ratelimit import Decision, Limit, header_seconds
from app.telemetry.security import SecurityEvents
from app.web.authn import identify
from app.web.client import client_address, limit_key
from app.web.handler import Handler
from app.web.keys import RATE_LIMITER

UNLIMITED_PATHS = frozenset({"/health", "/ready", "/metrics"})
AUTH_PATHS = frozenset({"/auth/login", "/auth/register", "/auth/refresh"})


class Limits:
    def __init__(self, settings: Settings) -> None:
        self.anonymous = Limit(settings.rate_limit_anon_per_minute)
        self.user = Limit(settings.rate_limit_user_per_minute)
        self.auth = Limit(settings.rate_limit_auth_per_minute)
        self.trusted_hops = settings.trust_proxy_hops


def _headers(decision: Decision) -> tuple[tuple[str, str], ...]:
    return (
        ("RateLimit-Limit", str(decision.limit)),
        ("RateLimit-Remaining", str(decision.remaining)),
        ("RateLimit-Reset", str(header_seconds(decision.reset_after))),
    )


def access_middleware(limits: Limits, events: SecurityEvents) -> web.typedefs.Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        principal = identify(request)
        path = request.path
        if path in UNLIMITED_PATHS:
            return await handler(request)
        if request.method == "POST" and path in AUTH_PATHS:
            scope, key, limit = "ip", "auth:" + limit_key(
                client_address(request, limits.trusted_hops)), limits.auth
        elif principal is not None:
            scope, key, limit = "user", "user:" + principal.user_id, limits.user
        else:
            scope, key, limit = "ip", "ip:" + limit_key(
                client_address(request, limits.trusted_hops)), limits.anonymous
        decision = request.app[RATE_LIMITER].hit(key, limit)
        if not isinstance(decision, Decision):  # the shared backend: one database round trip
            decision = await decision
        headers = _headers(decision)
        if not decision.allowed:
            retry = str(max(1, header_seconds(decision.retry_after)))
            events.rate_limited(
                scope,
                # Named (and logged) on the first refusal of the key in its window only.
                client_address(request, limits.trusted_hops) if decision.first_rejection
                else None,
                principal.user_id if principal is not None and scope == "user" else None,
            )
            raise RateLimited(headers={**dict(headers), "Retry-After": retry})
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 304s, 404s and 405s pass through as exceptions
            exc.headers.extend(headers)
            raise
        except AppError as exc:  # an error answer spent budget too: say how much is left
            exc.headers = {**(exc.headers or {}), **dict(headers)}
            raise
        response.headers.extend(headers)
        return response

    return middleware

