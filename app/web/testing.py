"""Routes that exist only when APP_ENV=test: a slow request (for drain and latency tests), an
unhandled error (for the 500 path) and a JSON echo (for body errors); the example domain adds a
curator-only route (for the role guard). Never registered in development or production."""

from __future__ import annotations

import asyncio

from aiohttp import web

from app.domain.errors import ValidationFailed
from app.web.envelope import json_ok, read_json
from app.web.keys import SETTINGS


async def slow(request: web.Request) -> web.Response:
    try:
        seconds = float(request.query.get("seconds", "1"))
    except ValueError:
        raise ValidationFailed(details=[{"field": "seconds", "reason": "not a number"}]) from None
    await asyncio.sleep(min(max(seconds, 0.0), 30.0))
    return json_ok(request, {"slept": seconds})


async def boom(request: web.Request) -> web.Response:
    # `detail` lets the Sentry tests put a secret into an exception message, and the settings
    # (every secret the process holds) sit in this frame as the worst case of a local variable.
    settings = request.app[SETTINGS]
    raise RuntimeError(f"test-only failure {request.query.get('detail', '')}".strip(), settings)


async def echo(request: web.Request) -> web.Response:
    return json_ok(request, await read_json(request))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/__test__/echo", echo)
    app.router.add_get("/__test__/slow", slow)
    app.router.add_get("/__test__/boom", boom)
