"""Bearer-token authentication: `identify` finds the caller (and puts the user id in the log
context) for the access middleware, and `require` serves handlers that need a caller or a role."""

from __future__ import annotations

from aiohttp import web

from app.domain.auth.models import Principal
from app.domain.errors import AppError, Forbidden, Unauthorized
from app.web.keys import AUTH, AUTH_ERROR, PRINCIPAL, REQUEST_CONTEXT

_BEARER = "bearer "


def identify(request: web.Request) -> Principal | None:
    """The caller a bearer token names, or None. A bad token on a public route is simply
    anonymous; `require` reports why it failed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    if header[:7].lower() != _BEARER:
        request[AUTH_ERROR] = Unauthorized("Use an 'Authorization: Bearer <token>' header")
        return None
    try:
        principal = request.app[AUTH].authenticate(header[7:].strip())
    except AppError as exc:
        request[AUTH_ERROR] = exc
        return None
    request[PRINCIPAL] = principal
    request[REQUEST_CONTEXT].user_id = principal.user_id
    return principal


def require(request: web.Request, roles: tuple[str, ...] = ()) -> Principal:
    """The authenticated caller; 401 without a valid token, 403 without one of `roles`."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise request.get(AUTH_ERROR) or Unauthorized()
    if roles and not principal.has_any(roles):
        raise Forbidden(f"Requires one of the roles: {', '.join(roles)}")
    return principal
