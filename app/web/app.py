"""`create_app(settings)`: the one factory that wires the whole service. Nothing is built at
import time; every long-lived resource is a cleanup context, created on the running loop and
torn down in reverse order.

The core is wired here: telemetry, the lifecycle, the database and the dependency ping, the rate
limiter, the probes (`/livez`, `/health`, `/ready`), `/metrics`, `/openapi.json`, the test routes,
the implicit OPTIONS and HEAD routes and the primed metric series. What the service serves beyond
it comes from its features module (`app.features`, see `app.composition`), mounted between the
database and the ping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from app import __version__
from app.composition import Features, service_features
from app.config import Settings, check_needs
from app.dependency import DependencyState, ping_forever
from app.domain.database import Database
from app.domain.ratelimit import RateLimiter
from app.lifecycle import Lifecycle
from app.telemetry import Telemetry
from app.web import health, metrics, openapi, testing
from app.web.edge import add_implicit_routes
from app.web.health import HEALTH_PING_TIMEOUT
from app.web.keys import (
    LIFECYCLE,
    OPERATIONS,
    RATE_LIMITER,
    SETTINGS,
    STORE,
    TELEMETRY,
)
from app.web.middlewares import METRICS_PATH, request_middleware


def _database_context(
    given: Database | None, dependency: DependencyState, features: Features
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def database_context(app: web.Application) -> AsyncIterator[None]:
        # A database passed in belongs to the caller (tests share one); one opened here is ours.
        database = (
            given if given is not None
            else features.open_database(app[SETTINGS], [app[TELEMETRY].mongo_listener()])
        )
        app[STORE] = database
        # Before connecting: refused credentials at start are news for the operator too.
        stop_watching = database.on_failure(dependency.operation_failed)
        await database.connect()  # never fails for want of the database; prepares later if need be
        if app[SETTINGS].rate_limit_backend == "mongo":
            limiter = database.shared_rate_limiter()
            await limiter.prepare()
            app[RATE_LIMITER] = limiter
        yield
        stop_watching()
        if given is None:
            await database.close()

    return database_context


async def _telemetry_context(app: web.Application) -> AsyncIterator[None]:
    telemetry = app[TELEMETRY]
    telemetry.start()
    yield
    # Flushing blocks on network I/O: keep it off the loop.
    await asyncio.to_thread(telemetry.close)


def _dependency_ping_context(
    dependency: DependencyState,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def dependency_ping_context(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        task = asyncio.create_task(ping_forever(
            app[STORE], dependency, period=settings.dependency_ping_seconds,
            timeout=min(HEALTH_PING_TIMEOUT, settings.mongo_timeout_ms / 1000),
        ), name="dependency-ping")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return dependency_ping_context


def create_app(
    settings: Settings, *, store: Database | None = None, features: Features | None = None
) -> web.Application:
    """The service: the core, and what `features` (this service's `app.features` unless
    given) mounts on it. `store`: a database the caller opened and keeps (tests). Raises
    ConfigErrors when production `settings` were not read for the features' `settings_needs`."""
    features = service_features() if features is None else features
    # A runner that read the settings for the core alone must not serve these features.
    check_needs(settings, features.settings_needs)
    limiter = RateLimiter(max_keys=settings.rate_limit_max_keys)
    telemetry = Telemetry(settings, version=__version__)
    lifecycle = Lifecycle()
    app = web.Application(
        # One middleware for everything a request needs (see app.web.middlewares for why one).
        middlewares=[request_middleware(settings, telemetry, lifecycle, features.identify)],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[TELEMETRY] = telemetry
    app[RATE_LIMITER] = limiter
    app[LIFECYCLE] = lifecycle
    app[OPERATIONS] = []
    app.cleanup_ctx.append(_telemetry_context)  # first in, last out: flushes after the rest
    # The one record of whether the database is up: the gauge and the down/up lines.
    dependency = DependencyState("mongo", telemetry.metrics.dependency_up.labels("mongo").set)
    app.cleanup_ctx.append(_database_context(store, dependency, features))

    health.setup_routes(app, dependency)
    features.mount(app)  # its cleanup contexts run on the connected database
    app.cleanup_ctx.append(_dependency_ping_context(dependency))
    metrics.setup_routes(app)
    openapi.setup_routes(app)
    if settings.app_env == "test":
        testing.setup_routes(app)
    add_implicit_routes(app)
    for operation in app[OPERATIONS]:  # the series the SLO rules read, present from the start
        if operation.path == METRICS_PATH:  # the scrape does not measure itself
            continue
        for status in {operation.status, 500, *(s for s in operation.errors if s >= 500)}:
            telemetry.metrics.http.prime(operation.method, operation.path, status)
    return app
