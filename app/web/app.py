"""`create_app(settings)`: the one factory that wires the whole service. Nothing is built at
import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from app.config import Settings
from app.lifecycle import Lifecycle
from app.store import Store, open_store
from app.web import health, testing
from app.web.errors import error_middleware
from app.web.keys import LIFECYCLE, SETTINGS, STORE
from app.web.middlewares import access_log_middleware, request_id_middleware


def _store_context(
    given: Store | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def store_context(app: web.Application) -> AsyncIterator[None]:
        # A store passed in belongs to the caller (tests share one); one built here is ours.
        store = given if given is not None else open_store(app[SETTINGS])
        app[STORE] = store
        await store.connect()
        yield
        if given is None:
            await store.close()

    return store_context


def create_app(settings: Settings, *, store: Store | None = None) -> web.Application:
    app = web.Application(
        middlewares=[request_id_middleware, access_log_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[LIFECYCLE] = Lifecycle()
    app.cleanup_ctx.append(_store_context(store))

    health.setup_routes(app)
    if settings.app_env == "test":
        testing.setup_routes(app)
    return app
