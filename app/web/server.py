"""Run the app until SIGTERM/SIGINT, then drain.

Start order: bind the listening sockets first, so a bad HOST or a busy PORT is one line on stderr
and exit 78 before the store is touched; then fit the connection cap under the open-file limit,
build the app, and serve through `app.web.connections` (deadlines and the cap).

Shutdown order: `/ready` turns 503 at once; the server keeps serving for SHUTDOWN_GRACE_SECONDS
so the load balancer can take the instance out; then it stops accepting, waits up to
SHUTDOWN_TIMEOUT_SECONDS for in-flight requests, and runs the cleanup contexts (store last).
While draining, every answer carries `Connection: close` (app.web.edge), so keep-alive clients
reconnect elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from app import __version__
from app.composition import DatabaseLoader, Features
from app.config import ConfigError, Settings
from app.telemetry import fields, get_logger
from app.web.app import create_app
from app.web.connections import (
    ConnectionGuard,
    ConnectionLimits,
    GuardedSite,
    accept_error_handler,
    bind,
    ensure_fd_budget,
)
from app.web.keys import LIFECYCLE, STORE

log = get_logger("app")
EX_CONFIG = 78  # as in app.__main__: the configuration is wrong


async def serve(
    settings: Settings, *, features: Features | None = None, database: DatabaseLoader | None = None
) -> None:
    """Serve until told to stop. `features`: this service's `app.features` unless given;
    `database`: opens the database to serve on instead of the configured one (e.g. a backup
    loaded into memory) and may raise StartupError."""
    try:
        sockets = bind(settings.host, settings.port)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(accept_error_handler(loop.get_exception_handler()))
    limits = ConnectionLimits.from_settings(
        settings, ensure_fd_budget(settings.http_max_connections))
    try:
        store = None if database is None else await database()
        app = create_app(settings, store=store, features=features)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            shutdown_timeout=settings.shutdown_timeout_seconds,
        )
        await runner.setup()
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    try:
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, limits)
        for sock in sockets:
            await GuardedSite(runner, sock, guard).start()
    except BaseException:
        await runner.cleanup()
        raise

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("app.started", extra=fields(
        host=settings.host, port=settings.port, env=settings.app_env,
        store=app[STORE].name, version=__version__, maxConnections=limits.max_connections,
    ))

    await stop.wait()
    app[LIFECYCLE].start_draining()
    log.info("app.stopping", extra=fields(graceSeconds=settings.shutdown_grace_seconds))
    stop.clear()
    # A second signal cuts the grace period short.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=settings.shutdown_grace_seconds)
    await runner.cleanup()
    log.info("app.stopped")
