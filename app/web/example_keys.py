"""Every typed key of the example domain's application and request state, declared in one
module (the core's are in `app.web.keys`)."""

from __future__ import annotations

from aiohttp import web

from app.domain.auth.models import Principal
from app.domain.auth.service import AuthService
from app.domain.content.catalog import CatalogCache
from app.domain.content.service import ContentService
from app.domain.errors import AppError

AUTH = web.AppKey("auth", AuthService)
CONTENT = web.AppKey("content", ContentService)
CATALOG = web.AppKey("catalog", CatalogCache)

# Set by authentication (`app.web.authn.identify`): who the bearer token speaks for, or why it
# was refused.
PRINCIPAL = web.RequestKey("principal", Principal)
AUTH_ERROR = web.RequestKey("auth_error", AppError)
