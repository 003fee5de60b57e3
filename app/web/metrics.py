"""`GET /metrics` for Prometheus, and the background ping that keeps app_dependency_up fresh."""

from __future__ import annotations

from aiohttp import web
from pydantic import RootModel

from app.dependency import DependencyState
from app.domain.errors import DependencyUnavailable
from app.store.base import StoreUnavailable
from app.telemetry import get_logger
from app.web.health import HEALTH_PING_TIMEOUT
from app.web.keys import SETTINGS, STORE, TELEMETRY
from app.web.openapi import Operation, route

log = get_logger("app.dependency")


class Exposition(RootModel[str]):
    """Prometheus text format, or OpenMetrics (with exemplars) when asked for."""


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[TELEMETRY].metrics.render(
        request.headers.get("Accept", "")
    )
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def ping_forever(app: web.Application, dependency: DependencyState) -> None:
    """Keep `dependency` (and so app_dependency_up) true: ping every DEPENDENCY_PING_SECONDS,
    or sooner when a failing request asks. Survives anything a ping raises: a task that died
    would freeze the gauge at its last value, and the alert on it could never fire."""
    settings, store = app[SETTINGS], app[STORE]
    timeout = min(HEALTH_PING_TIMEOUT, settings.mongo_timeout_ms / 1000)
    while True:
        try:
            await store.ping(timeout)
        except StoreUnavailable as exc:
            dependency.mark_down(exc.reason)
        except DependencyUnavailable:
            dependency.mark_down("unavailable")
        except Exception as exc:
            if dependency.mark_down("unexpected", error=type(exc).__name__):
                log.exception("dependency.check_failed")  # the traceback, once per outage
        else:
            dependency.mark_up()
        await dependency.wait_for_next_check(settings.dependency_ping_seconds)


def setup_routes(app: web.Application) -> None:
    route(app, Operation("GET", "/metrics", "Prometheus metrics", "operations",
                         response=Exposition, raw=True, limited=False,
                         content_type="text/plain"), metrics)
