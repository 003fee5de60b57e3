"""`/health` (liveness: the store answers a ping) and `/ready` (readiness: every registered check).

Both answer 200 or 503, never 500: a failing check is an answer, not an error, whatever it
raised. `/health` only pings (bounded by ~1 s); the store prepares its indexes elsewhere.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from app.domain.database import StoreUnavailable
from app.domain.errors import DependencyUnavailable
from app.web.envelope import json_ok
from app.web.keys import LIFECYCLE, SETTINGS, STORE
from app.web.openapi import Operation, route

HEALTH_PING_TIMEOUT = 1.0
_NO_STORE = {"Cache-Control": "no-store"}


async def store_check(app: web.Application) -> str | None:
    try:
        timeout = min(HEALTH_PING_TIMEOUT, app[SETTINGS].mongo_timeout_ms / 1000)
        await app[STORE].ping(timeout=timeout)
    except StoreUnavailable as exc:  # the short reason (never the driver's message)
        return f"unavailable: {exc.reason}"
    except DependencyUnavailable:
        return "unavailable"
    except Exception as exc:  # a bug in the check is still a "no", never a 500
        return f"check failed: {type(exc).__name__}"
    return None


def _render(request: web.Request, ok: bool, checks: dict[str, str]) -> web.Response:
    status = "ok" if ok else "unavailable"
    return json_ok(
        request, {"status": status, "checks": checks}, status=200 if ok else 503, headers=_NO_STORE
    )


async def health(request: web.Request) -> web.Response:
    try:
        problem = await store_check(request.app)
    except Exception as exc:  # by construction as well as by the check's own care
        problem = f"check failed: {type(exc).__name__}"
    return _render(request, problem is None, {"store": problem or "ok"})


async def ready(request: web.Request) -> web.Response:
    ok, checks = await request.app[LIFECYCLE].readiness()
    return _render(request, ok, checks)


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


def setup_routes(app: web.Application) -> None:
    app[LIFECYCLE].add_check("store", lambda: store_check(app))
    route(app, Operation("GET", "/health", "Liveness: the store answers a ping", "operations",
                         response=HealthOut, errors=(503,), limited=False, slos=()), health)
    route(app, Operation("GET", "/ready", "Readiness: every check passes", "operations",
                         response=HealthOut, errors=(503,), limited=False, slos=()), ready)
