"""The probes, each named for what it protects: `/livez` (the process answers), `/health` (the
store answers a ping) and `/ready` (this instance should receive traffic).

- `/livez` awaits nothing: the liveness probe and the Docker HEALTHCHECK restart a process that
  stopped answering, and a restart cures that, never a database outage (it would only lose the
  primed catalog the instance was serving from memory).
- `/health` pings the store (bounded by ~1 s): the startup probe (a new pod waits for its
  database) and monitors.
- `/ready`: not draining, and every required check of the lifecycle (the features add theirs,
  e.g. the example's primed catalog). The store is required only with READY_REQUIRES_STORE (the
  strict form: one shared outage then takes every instance out of the load balancer); by
  default its state is reported from the background ping (app.dependency) without waiting on
  the database, and a primed instance stays in rotation, answering 503 dependency.unavailable
  for what needs the database.

All answer 200 or 503, never 500: a failing check is an answer, not an error, whatever it raised.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from app.dependency import DependencyState
from app.domain.database import StoreUnavailable
from app.domain.errors import DependencyUnavailable
from app.lifecycle import Check
from app.web.envelope import json_ok
from app.web.keys import LIFECYCLE, SETTINGS, STORE
from app.web.openapi import Operation, route

HEALTH_PING_TIMEOUT = 1.0
_NO_STORE = {"Cache-Control": "no-store"}
# Said beside the store's state in /ready's checks when it does not decide readiness.
NOT_REQUIRED = "not required for readiness: READY_REQUIRES_STORE=false"


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


def reported_store_state(dependency: DependencyState) -> Check:
    """The store's state as the background ping last saw it (the same as app_dependency_up),
    with a note that it does not decide readiness: nothing is awaited on the database."""

    async def check() -> str | None:
        if dependency.up is True:
            return None
        state = ("not checked yet" if dependency.up is None
                 else f"unavailable: {dependency.reason or 'unknown'}")
        return f"{state} ({NOT_REQUIRED})"

    return check


def _render(request: web.Request, ok: bool, checks: dict[str, str]) -> web.Response:
    status = "ok" if ok else "unavailable"
    return json_ok(
        request, {"status": status, "checks": checks}, status=200 if ok else 503, headers=_NO_STORE
    )


async def livez(request: web.Request) -> web.Response:
    return json_ok(request, {"status": "ok"}, headers=_NO_STORE)


async def health(request: web.Request) -> web.Response:
    try:
        problem = await store_check(request.app)
    except Exception as exc:  # by construction as well as by the check's own care
        problem = f"check failed: {type(exc).__name__}"
    return _render(request, problem is None, {"store": problem or "ok"})


async def ready(request: web.Request) -> web.Response:
    ok, checks = await request.app[LIFECYCLE].readiness()
    return _render(request, ok, checks)


class LiveOut(BaseModel):
    status: Literal["ok"]


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


def setup_routes(app: web.Application, dependency: DependencyState) -> None:
    """The probes; `dependency`: the database's state the background ping keeps."""
    if app[SETTINGS].ready_requires_store:
        app[LIFECYCLE].add_check("store", lambda: store_check(app))
    else:
        app[LIFECYCLE].add_check("store", reported_store_state(dependency), required=False)
    route(app, Operation("GET", "/livez", "Liveness: the process answers (no dependency)",
                         "operations", response=LiveOut, limited=False, slos=()), livez)
    route(app, Operation("GET", "/health", "Startup and monitors: the store answers a ping",
                         "operations", response=HealthOut, errors=(503,), limited=False,
                         slos=()), health)
    route(app, Operation("GET", "/ready", "Readiness: not draining and every required check "
                         "passes", "operations", response=HealthOut, errors=(503,),
                         limited=False, slos=()), ready)
