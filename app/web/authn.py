"""Bearer-token authentication: `identify` finds the caller for the access middleware (the example
domain's `identify` hook, see app.features), and `require` serves handlers that need a caller or
a role."""

from __future__ import annotations

from aiohttp import web

from app.domain.auth.models import Principal
from app.domain.errors import AppError, Forbidden, NotFound, Unauthorized
from app.telemetry import get_logger
from app.web.example_keys import AUTH, AUTH_ERROR, PRINCIPAL

_BEARER = "bearer "
log = get_logger("app.auth")


def identify(request: web.Request) -> str | None:
    """The user id of the caller a bearer token names (the principal is kept on the request),
    or None. A bad token on a public route is simply anonymous; `require` reports why it
    failed. The request middleware calls it first (app.features: `identify`) and puts the
    user id into the log context and the per-user rate limit."""
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
    except Exception:
        # A credential is attacker-controlled input: whatever its decoding raises, it is an
        # invalid token, never a 500 on every route before the rate limiter runs.
        log.debug("auth.undecodable_token", exc_info=False)
        request[AUTH_ERROR] = Unauthorized("Invalid token")
        return None
    request[PRINCIPAL] = principal
    return principal.user_id


async def require_account(request: web.Request, roles: tuple[str, ...]) -> Principal:
    """`require`, then the same check against the live account: for privileged routes a token
    is not enough, because a deleted or demoted curator's token lives until it expires. One
    store read per privileged request (cheap next to the write it guards)."""
    principal = require(request, roles)
    try:
        user = await request.app[AUTH].me(principal.user_id)
    except NotFound:
        raise Unauthorized("The account no longer exists") from None
    if not any(role in user.roles for role in roles):
        raise Forbidden(f"Requires one of the roles: {', '.join(roles)}")
    return Principal(user_id=user.id, roles=user.roles)


def require(request: web.Request, roles: tuple[str, ...] = ()) -> Principal:
    """The authenticated caller; 401 without a valid token, 403 without one of `roles`."""
    if PRINCIPAL not in request:
        raise request.get(AUTH_ERROR) or Unauthorized()
    principal = request[PRINCIPAL]
    if roles and not principal.has_any(roles):
        raise Forbidden(f"Requires one of the roles: {', '.join(roles)}")
    return principal
