"""Who is calling, and may they: `Access.admit` identifies the caller (with the features'
`identify`, when they authenticate anyone), then rate limits: per user when identified, per
client address otherwise, and a much stricter per-address bucket for the routes registered with
`Operation(limit="auth")` (those that take credentials). Probes and metrics are never limited.
Every limited answer, errors included, carries the RateLimit-* headers (the request middleware
adds them); a rejection is 429 `ratelimit.exceeded` with Retry-After."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable

from aiohttp import web
from multidict import istr

from app.composition import Identify
from app.config import Settings
from app.domain.errors import RateLimited
from app.domain.ratelimit import Decision, Limit, header_seconds
from app.telemetry.security import SecurityEvents
from app.web.client import client_address, limit_key
from app.web.keys import OPERATIONS, RATE_LIMITER, REQUEST_CONTEXT
from app.web.openapi import Operation

UNLIMITED_PATHS = frozenset({"/livez", "/health", "/ready", "/metrics"})
_LIMIT = istr("RateLimit-Limit")
_REMAINING = istr("RateLimit-Remaining")
_RESET = istr("RateLimit-Reset")
# Distinct client addresses whose bucket key is remembered (parsing an address is a few µs).
_KEY_CACHE_SIZE = 4096


class Limits:
    def __init__(self, settings: Settings) -> None:
        self.anonymous = Limit(settings.rate_limit_anon_per_minute)
        self.user = Limit(settings.rate_limit_user_per_minute)
        self.auth = Limit(settings.rate_limit_auth_per_minute)
        self.trusted_hops = settings.trust_proxy_hops


def strict_routes(operations: Iterable[Operation]) -> frozenset[str]:
    """The routes ("POST /auth/login", as the request context names them) of the stricter
    bucket: those registered with `limit="auth"`."""
    return frozenset(f"{op.method} {op.path}" for op in operations if op.limit == "auth")


class Access:
    def __init__(
        self, limits: Limits, events: SecurityEvents, identify: Identify | None = None
    ) -> None:
        self._limits = limits
        self._events = events
        self._identify = identify
        self._keys: dict[str, str] = {}
        # ("RateLimit-Limit", "<count>") per limit: a handful of values, formatted once.
        self._limit_pairs: dict[int, tuple[str, str]] = {}
        # Read from the registered operations at the first request (routes are final by then).
        self._strict: frozenset[str] | None = None

    def _address_key(self, request: web.Request) -> str:
        address = client_address(request, self._limits.trusted_hops)
        key = self._keys.get(address)
        if key is None:
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            key = self._keys[address] = limit_key(address)
        return key

    def _bucket(self, request: web.Request, user_id: str | None) -> tuple[str, str, Limit]:
        """(scope, key, limit) of this request."""
        strict = self._strict
        if strict is None:
            operations: list[Operation] = request.app[OPERATIONS]
            strict = self._strict = strict_routes(operations)
        if request[REQUEST_CONTEXT].route in strict:
            return "ip", "auth:" + self._address_key(request), self._limits.auth
        if user_id is not None:
            return "user", "user:" + user_id, self._limits.user
        return "ip", "ip:" + self._address_key(request), self._limits.anonymous

    def admit(self, request: web.Request) -> Decision | Awaitable[Decision] | None:
        """Identify, then spend one unit of the caller's budget: the decision (awaitable
        with the shared backend: one database round trip), or None for an unlimited path."""
        identify = self._identify
        user_id = None if identify is None else identify(request)
        if user_id is not None:
            request[REQUEST_CONTEXT].user_id = user_id  # the log lines and spans name the caller
        if request.path in UNLIMITED_PATHS:
            return None
        _, key, limit = self._bucket(request, user_id)
        return request.app[RATE_LIMITER].hit(key, limit)

    def headers(self, decision: Decision) -> tuple[tuple[str, str], ...]:
        limit = self._limit_pairs.get(decision.limit)
        if limit is None:
            limit = self._limit_pairs[decision.limit] = (_LIMIT, str(decision.limit))
        reset = decision.reset_after
        return (
            limit,
            (_REMAINING, str(decision.remaining)),
            # header_seconds, inlined: every limited answer carries it
            (_RESET, str(math.ceil(reset - 1e-9) if reset > 1e-9 else 0)),
        )

    def refuse(self, request: web.Request, decision: Decision) -> RateLimited:
        """The 429 for a refused decision, counted (and on the first refusal of the key in its
        window, logged with the client address)."""
        user_id = request[REQUEST_CONTEXT].user_id
        scope, _, _ = self._bucket(request, user_id)
        self._events.rate_limited(
            scope,
            client_address(request, self._limits.trusted_hops) if decision.first_rejection
            else None,
            user_id if scope == "user" else None,
        )
        return RateLimited(headers={
            "Retry-After": str(max(1, header_seconds(decision.retry_after)))})
