"""Every typed key for application and request state, declared in one module."""

from __future__ import annotations

from aiohttp import web

from app.config import Settings
from app.domain.auth.models import Principal
from app.domain.auth.service import AuthService
from app.domain.content.catalog import CatalogCache
from app.domain.content.service import ContentService
from app.domain.errors import AppError
from app.domain.ratelimit import Limiter
from app.lifecycle import Lifecycle
from app.store import Store
from app.telemetry import RequestContext, Telemetry

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
# Every documented route, recorded as it is added (see app.web.openapi).
OPERATIONS = web.AppKey("operations", list)
AUTH = web.AppKey("auth", AuthService)
CONTENT = web.AppKey("content", ContentService)
CATALOG = web.AppKey("catalog", CatalogCache)
RATE_LIMITER = web.AppKey("rate_limiter", Limiter)
TELEMETRY = web.AppKey("telemetry", Telemetry)

REQUEST_CONTEXT = web.RequestKey("request_context", RequestContext)
# Set by the authentication middleware: who the bearer token speaks for, or why it was refused.
PRINCIPAL = web.RequestKey("principal", Principal)
AUTH_ERROR = web.RequestKey("auth_error", AppError)
