"""`create_app(settings)`: the one factory that wires the whole service. Nothing is built at
import time; every long-lived resource is a cleanup context, created on the running loop and
torn down in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web

from app import __version__
from app.config import Settings
from app.dependency import DependencyState
from app.domain.auth.passwords import (
    ACCOUNT_FAILURE_PERIOD_SECONDS,
    FailedLoginBudget,
    Passwords,
)
from app.domain.auth.service import AuthEvents, AuthService
from app.domain.auth.tokens import TokenCodec, TokenConfig, TokenKeys
from app.domain.content.catalog import CatalogCache
from app.domain.content.demo import seed_demo
from app.domain.content.service import ContentService
from app.domain.errors import DependencyUnavailable
from app.domain.events import CONTENT_CHANGED, TAG_RENAMED, EventBus
from app.domain.ratelimit import RateLimiter
from app.lifecycle import Lifecycle
from app.store import Store, open_store
from app.telemetry import Telemetry, fields, get_logger
from app.web import admin, auth, catalog, content, health, metrics, openapi, testing
from app.web.edge import add_implicit_routes
from app.web.keys import (
    AUTH,
    CATALOG,
    CONTENT,
    LIFECYCLE,
    OPERATIONS,
    RATE_LIMITER,
    SETTINGS,
    STORE,
    TELEMETRY,
)
from app.web.middlewares import METRICS_PATH, request_middleware

log = get_logger("app")


def token_config(settings: Settings) -> TokenConfig:
    return TokenConfig(
        access=TokenKeys(settings.jwt_access.current, settings.jwt_access.verification_keys()),
        refresh=TokenKeys(settings.jwt_refresh.current, settings.jwt_refresh.verification_keys()),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )


def build_auth(settings: Settings, store: Store, events: AuthEvents) -> AuthService:
    passwords = Passwords(
        cheap=settings.app_env == "test",
        concurrency=settings.auth_hash_concurrency,
        queue_max=settings.auth_hash_queue_max,
    )
    # Per process, like the in-process limiter: N instances allow N times the budget.
    failed_logins = FailedLoginBudget(
        settings.auth_account_failures_per_15_minutes, ACCOUNT_FAILURE_PERIOD_SECONDS,
        RateLimiter(max_keys=settings.rate_limit_max_keys),
    )
    return AuthService(
        store,
        TokenCodec(token_config(settings)),
        passwords,
        events,
        allow_self_registration=settings.auth_allow_self_registration,
        failed_logins=failed_logins,
    )


def _store_context(
    given: Store | None, dependency: DependencyState
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def store_context(app: web.Application) -> AsyncIterator[None]:
        # A store passed in belongs to the caller (tests share one); one built here is ours.
        store = (
            given if given is not None
            else open_store(app[SETTINGS], [app[TELEMETRY].mongo_listener()])
        )
        app[STORE] = store
        # Before connecting: refused credentials at start are news for the operator too.
        stop_watching = store.on_failure(dependency.operation_failed)
        await store.connect()  # never fails for want of the database; prepares later if need be
        if app[SETTINGS].rate_limit_backend == "mongo":
            limiter = store.shared_rate_limiter()
            await limiter.prepare()
            app[RATE_LIMITER] = limiter
        yield
        stop_watching()
        if given is None:
            await store.close()

    return store_context


async def _auth_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[AUTH] = build_auth(settings, app[STORE], app[TELEMETRY].security.auth_event)
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


async def _refresh_catalog_forever(cache: CatalogCache, period: float) -> None:
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
    settings, store = app[SETTINGS], app[STORE]
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
        _refresh_catalog_forever(cache, settings.catalog_refresh_seconds), name="catalog-refresh"
    )
    yield
    refresher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await refresher


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
        task = asyncio.create_task(metrics.ping_forever(app, dependency), name="dependency-ping")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return dependency_ping_context


async def _catalog_check(app: web.Application) -> str | None:
    return None if CATALOG in app and app[CATALOG].primed else "not primed"


def create_app(settings: Settings, *, store: Store | None = None) -> web.Application:
    limiter = RateLimiter(max_keys=settings.rate_limit_max_keys)
    telemetry = Telemetry(settings, version=__version__)
    lifecycle = Lifecycle()
    app = web.Application(
        # One middleware for everything a request needs (see app.web.middlewares for why one).
        middlewares=[request_middleware(settings, telemetry, lifecycle)],
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
    app.cleanup_ctx.append(_store_context(store, dependency))
    app.cleanup_ctx.append(_auth_context)
    app.cleanup_ctx.append(_content_context)
    app.cleanup_ctx.append(_dependency_ping_context(dependency))
    app[LIFECYCLE].add_check("catalog", lambda: _catalog_check(app))

    health.setup_routes(app)
    auth.setup_routes(app)
    catalog.setup_routes(app)
    content.setup_routes(app)
    admin.setup_routes(app)
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
