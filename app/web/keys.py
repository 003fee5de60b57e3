"""Every typed key for application and request state, declared in one module."""

from __future__ import annotations

from aiohttp import web

from app.config import Settings
from app.lifecycle import Lifecycle
from app.store import Store
from app.telemetry import RequestContext

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

REQUEST_CONTEXT = web.RequestKey("request_context", RequestContext)
