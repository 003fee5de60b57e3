"""Every typed key of the core's application and request state, declared in one module (the
example domain declares its own in `app.web.example_keys`)."""

from __future__ import annotations

from aiohttp import web

from app.config import Settings
from app.domain.database import Database
from app.domain.ratelimit import Limiter
from app.lifecycle import Lifecycle
from app.telemetry import RequestContext, Telemetry

SETTINGS = web.AppKey("settings", Settings)
# The database adapter: the core connects it, pings it and watches its failures.
STORE = web.AppKey("store", Database)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
# Every documented route, recorded as it is added (see app.web.openapi).
OPERATIONS = web.AppKey("operations", list)
RATE_LIMITER = web.AppKey("rate_limiter", Limiter)
TELEMETRY = web.AppKey("telemetry", Telemetry)

REQUEST_CONTEXT = web.RequestKey("request_context", RequestContext)
