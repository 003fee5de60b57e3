"""`GET /metrics` for Prometheus, and the background ping that keeps app_dependency_up fresh."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import RootModel

from app.domain.errors import DependencyUnavailable
from app.web.keys import SETTINGS, STORE, TELEMETRY
from app.web.openapi import Operation, route


class Exposition(RootModel[str]):
    """Prometheus text format, or OpenMetrics (with exemplars) when asked for."""


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[TELEMETRY].metrics.render(
        request.headers.get("Accept", "")
    )
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def ping_forever(app: web.Application) -> None:
    """app_dependency_up{dependency="mongo"}: 1 while the store answers its ping, else 0."""
    gauge = app[TELEMETRY].metrics.dependency_up.labels("mongo")
    settings, store = app[SETTINGS], app[STORE]
    timeout = min(1.0, settings.mongo_timeout_ms / 1000)
    while True:
        try:
            await store.ping(timeout)
            gauge.set(1)
        except DependencyUnavailable:
            gauge.set(0)
        await asyncio.sleep(settings.dependency_ping_seconds)


def setup_routes(app: web.Application) -> None:
    route(app, Operation("GET", "/metrics", "Prometheus metrics", "operations",
                         response=Exposition, raw=True, limited=False,
                         content_type="text/plain"), metrics)
