"""Auth routes: register, login, refresh, logout, me. Request bodies of these routes are never
logged (the access line carries method, path and status only)."""

from __future__ import annotations

from aiohttp import web

from app.domain.auth.schemas import LoginBody, MeOut, RefreshBody, RegisterBody, TokenPairOut
from app.domain.auth.service import TokenPair
from app.domain.validation import parse
from app.web.authn import require
from app.web.envelope import json_ok, read_json
from app.web.example_keys import AUTH
from app.web.openapi import Operation, route

# Token responses must never be cached by the browser or a proxy.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(request: web.Request, pair: TokenPair, status: int = 200) -> web.Response:
    data = {
        "accessToken": pair.access_token,
        "refreshToken": pair.refresh_token,
        "tokenType": "Bearer",
        "expiresIn": pair.expires_in,
    }
    return json_ok(request, data, status=status, headers=_NO_STORE)


async def register(request: web.Request) -> web.Response:
    body = parse(RegisterBody, await read_json(request))
    return _tokens(request, await request.app[AUTH].register(body.email, body.password), 201)


async def login(request: web.Request) -> web.Response:
    body = parse(LoginBody, await read_json(request))
    return _tokens(request, await request.app[AUTH].login(body.email, body.password))


async def refresh(request: web.Request) -> web.Response:
    body = parse(RefreshBody, await read_json(request))
    return _tokens(request, await request.app[AUTH].refresh(body.refreshToken))


async def logout(request: web.Request) -> web.Response:
    body = parse(RefreshBody, await read_json(request))
    await request.app[AUTH].logout(body.refreshToken)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    principal = require(request)
    user = await request.app[AUTH].me(principal.user_id)
    return json_ok(
        request, {"id": user.id, "email": user.email, "roles": list(user.roles)},
        headers=_NO_STORE,
    )


def setup_routes(app: web.Application) -> None:
    # Register, login and refresh take credentials: the stricter per-address bucket.
    body_errors = (400, 413, 415, 503)
    route(app, Operation("POST", "/auth/register", "Create an account (when enabled)", "auth",
                         response=TokenPairOut, status=201, body=RegisterBody,
                         errors=(*body_errors, 403, 409), limit="auth"), register)
    route(app, Operation("POST", "/auth/login", "Exchange email and password for tokens", "auth",
                         response=TokenPairOut, body=LoginBody, errors=(*body_errors, 401),
                         limit="auth"), login)
    route(app, Operation("POST", "/auth/refresh", "Rotate a refresh token", "auth",
                         response=TokenPairOut, body=RefreshBody, errors=(*body_errors, 401),
                         limit="auth"), refresh)
    route(app, Operation("POST", "/auth/logout", "Revoke the refresh token's family", "auth",
                         status=204, body=RefreshBody, errors=(*body_errors, 401)), logout)
    route(app, Operation("GET", "/me", "The authenticated user", "auth", response=MeOut,
                         auth=True, errors=(401, 404, 503)), me)
