"""The example domain mounted on the core (`mount`, named by app.features): the auth service with
the bootstrap admin, the content service with the catalog cache and its refresher, the demo seed,
the catalog's readiness check, and the auth, catalog, content and admin routes.

Its cleanup contexts run after the core's database context (the store is connected) and before
the dependency ping; they are torn down in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from app.bootstrap import build_auth
from app.domain.auth.models import CURATORS
from app.domain.content.catalog import CatalogCache
from app.domain.content.demo import seed_demo
from app.domain.content.service import ContentService
from app.domain.errors import DependencyUnavailable
from app.domain.events import CONTENT_CHANGED, TAG_RENAMED, EventBus
from app.domain.store import Store
from app.telemetry import fields, get_logger
from app.web import admin, auth, catalog, content
from app.web.authn import require
from app.web.envelope import json_ok
from app.web.example_keys import AUTH, CATALOG, CONTENT
from app.web.keys import LIFECYCLE, SETTINGS, STORE, TELEMETRY

log = get_logger("app")


def _store(app: web.Application) -> Store:
    """The core's database, which for this domain must be a Store (app.bootstrap.open_store)."""
    database = app[STORE]
    if not isinstance(database, Store):
        raise TypeError(f"the example domain needs a Store; {type(database).__name__} is not one")
    return database


async def _auth_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[AUTH] = build_auth(settings, _store(app), app[TELEMETRY].security.auth_event)
    if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
        try:
            created = await app[AUTH].ensure_admin(
                settings.bootstrap_admin_email, settings.bootstrap_admin_password.reveal()
            )
            log.info("auth.bootstrap_admin", extra=fields(created=created))
        except DependencyUnavailable:
            # A consequence, not the news: dependency.down has said why, once.
            log.warning("auth.bootstrap_admin_skipped: the store is unavailable; the admin is "
                        "created at the next start")
    yield


async def refresh_catalog_forever(cache: CatalogCache, period: float) -> None:
    """Periodic refresh of the catalog and the content snapshot, so changes made through other
    instances arrive within `period`. While the cache is cold (the store was down at start) it
    retries every second. Survives anything a refresh raises, and says so once per change (not
    once per attempt); meanwhile the last catalog and content snapshot keep serving."""
    failing: str | None = None  # why the last attempt failed: "unavailable" or the error's class
    while True:
        await asyncio.sleep(period if cache.primed else min(period, 1.0))
        try:
            await cache.refresh()
        except DependencyUnavailable:
            if failing != "unavailable":
                log.warning("catalog.refresh_failed: the store is unavailable; serving the "
                            "last catalog", extra=fields(primed=cache.primed))
            failing = "unavailable"
            continue
        except Exception as exc:
            if failing != type(exc).__name__:
                log.exception("catalog.refresh_failed", extra=fields(primed=cache.primed))
            failing = type(exc).__name__
            continue
        if failing is not None:
            log.info("catalog.refresh_recovered")
        failing = None


async def _content_context(app: web.Application) -> AsyncIterator[None]:
    settings, store = app[SETTINGS], _store(app)
    bus = EventBus()
    # One rebuild feeds the catalog and the content snapshot the content routes read.
    cache = app[CATALOG] = CatalogCache(store, max_items=settings.content_snapshot_max_items)
    app[CONTENT] = ContentService(store, bus, snapshot=lambda: cache.content)
    if settings.seed_demo_data and store.name == "memory":
        tags, items = await seed_demo(app[CONTENT])
        log.info("catalog.demo_seeded", extra=fields(tags=tags, items=items))
    app[TELEMETRY].metrics.watch_catalog_cache(lambda: (cache.hits, cache.misses))
    for event in (CONTENT_CHANGED, TAG_RENAMED):
        # Awaited before the write answers: this instance serves its own writes at once.
        bus.subscribe(event, lambda _event: cache.rebuild())
    try:
        snapshot = await cache.rebuild()
        content = cache.content
        log.info("catalog.primed", extra=fields(
            version=snapshot.version, tags=snapshot.tag_count,
            contentItems=len(content) if content is not None else None))
    except DependencyUnavailable:
        log.warning("catalog.not_primed: the store is unavailable; /ready stays 503 until it is")
    except Exception:  # serve unready and let the refresher retry, rather than not start
        log.exception("catalog.not_primed")
    refresher = asyncio.create_task(
        refresh_catalog_forever(cache, settings.catalog_refresh_seconds), name="catalog-refresh"
    )
    yield
    refresher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await refresher


async def _catalog_check(app: web.Application) -> str | None:
    return None if CATALOG in app and app[CATALOG].primed else "not primed"


async def _curators_only(request: web.Request) -> web.Response:
    """APP_ENV=test only: the role guard, without a domain route around it."""
    principal = require(request, CURATORS)
    return json_ok(request, {"userId": principal.user_id})


def mount(app: web.Application) -> None:
    app.cleanup_ctx.append(_auth_context)
    app.cleanup_ctx.append(_content_context)
    app[LIFECYCLE].add_check("catalog", lambda: _catalog_check(app))
    auth.setup_routes(app)
    catalog.setup_routes(app)
    content.setup_routes(app)
    admin.setup_routes(app)
    if app[SETTINGS].app_env == "test":
        app.router.add_get("/__test__/curators-only", _curators_only)
