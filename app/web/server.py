"""Run the app until SIGTERM/SIGINT, then drain.

Shutdown order: `/ready` turns 503 at once; the server keeps serving for SHUTDOWN_GRACE_SECONDS
so the load balancer can take the instance out; then it stops accepting, waits up to
SHUTDOWN_TIMEOUT_SECONDS for in-flight requests, and runs the cleanup contexts (store last).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from aiohttp import web

from app import __version__
from app.config import Settings
from app.store.backup import load_into
from app.store.memory import MemoryStore
from app.telemetry import fields, get_logger
from app.web.app import create_app
from app.web.keys import LIFECYCLE, STORE

log = get_logger("app")


async def serve(settings: Settings, *, from_backup: Path | None = None) -> None:
    store = None
    if from_backup is not None:
        store = MemoryStore()
        loaded = await load_into(store, from_backup)
        log.info("store.loaded_backup", extra=fields(source=str(from_backup), **loaded))
    app = create_app(settings, store=store)
    runner = web.AppRunner(
        app,
        access_log=None,  # replaced by our request.completed line
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout_seconds,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("app.started", extra=fields(
        host=settings.host, port=settings.port, env=settings.app_env,
        store=app[STORE].name, version=__version__,
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
