"""`GET /metrics` for Prometheus (the ping that keeps app_dependency_up fresh is
`app.dependency.ping_forever`)."""

from __future__ import annotations

from aiohttp import web
from pydantic import RootModel

from app.web.keys import TELEMETRY
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


def setup_routes(app: web.Application) -> None:
    route(app, Operation("GET", "/metrics", "Prometheus metrics", "operations",
                         response=Exposition, raw=True, limited=False,
                         content_type="text/plain", slos=()), metrics)
