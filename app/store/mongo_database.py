"""The MongoDB adapter of the core `Database` port, on pymongo's native async client (no thread
pool): the client, the call boundary, the ping, preparation and the shared rate limiter. What a
service keeps in the database (collections, their methods, their indexes) is a subclass's: the
example domain's `MongoStore` is one.

Every operation runs through the call boundary (`mongo_calls.DriverCalls.run`): in a task of its
own that nothing cancels, bounded by the client-side timeout (`timeoutMS`), while the caller waits
at most `DEADLINE_MARGIN` longer; every driver failure that means the database cannot serve
becomes `StoreUnavailable` with a short reason (see `mongo_errors`). So a request never waits much
past MONGO_TIMEOUT_MS, and no outage, refused credential or failover turns into a 500. The shared
rate limiter (`ratelimit_mongo`) goes through the same boundary.

Indexes and capabilities are prepared once, off the probe path: at start when the database
answers, otherwise by a background task that retries with backoff. Servers that lack a feature
(FerretDB v1 has no TTL indexes and no transactions) are detected from their answers, and the
adapter degrades with one warning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from app.domain.database import StoreUnavailable
from app.identity import NAME
from app.store.mongo_calls import DEADLINE_MARGIN as DEADLINE_MARGIN  # re-exported for callers
from app.store.mongo_calls import DriverCalls, FailedCommands
from app.store.mongo_errors import uri_user
from app.store.ratelimit_mongo import MongoRateLimiter
from app.telemetry import fields, get_logger

Collection = AsyncCollection[dict[str, Any]]
log = get_logger(__name__)

_NOT_IMPLEMENTED = 238  # the server's error code for an unsupported option
# Index builds may take longer than a request may wait; they run off the request path.
PREPARE_TIMEOUT = 60.0
PREPARE_RETRY = (1.0, 30.0)  # first and longest wait between background attempts
PREPARE_START_WAIT = 5.0  # how long the start waits for the first attempt


async def _index_names(collection: Collection) -> set[str]:
    return {index["name"] async for index in await collection.list_indexes()}


async def ensure_indexes(collection: Collection, models: Sequence[IndexModel]) -> None:
    """Create the indexes that are missing. Only the missing ones: FerretDB v1 drops the
    connection on a createIndexes that repeats existing indexes alongside others."""
    existing = await _index_names(collection)
    missing = [model for model in models if model.document["name"] not in existing]
    if missing:
        await collection.create_indexes(missing)


class MongoDatabase:
    name = "mongo"
    # Collections whose documents expire at their `expiresAt` (a TTL index, where the server
    # has them), and whether anything needs transactions (else their absence is not news).
    ttl_collections: tuple[str, ...] = ()
    needs_transactions = False

    def __init__(self, uri: str, database: str, *, timeout_ms: int,
                 listeners: Sequence[monitoring.CommandListener] = ()) -> None:
        # Built inside the running loop (from the app's cleanup context): the async client
        # belongs to the loop that creates it.
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, appname=NAME, w="majority", tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, timeoutMS=timeout_ms,
            event_listeners=[FailedCommands(), *listeners],
        )
        self._db = self._client[database]
        self._timeout = timeout_ms / 1000
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        self._preparer: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._last_failure: StoreUnavailable | None = None  # why the last attempt failed
        self._calls = DriverCalls(self._client, self._timeout, listeners, user=uri_user(uri))
        self._run = self._calls.run  # the boundary: every driver call goes through it
        self.supports_ttl = True
        self.supports_transactions = False

    def required_indexes(self) -> Mapping[str, Sequence[IndexModel]]:
        """The indexes the service relies on, by collection; a subclass names its own. TTL
        indexes are not here: the server may lack them (see `ttl_collections`)."""
        return {}

    def on_failure(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return self._calls.on_failure(listener)

    # lifecycle

    async def connect(self) -> None:
        """Start preparing in the background and give the first attempt a moment: a healthy
        start serves with its indexes in place, while a database that is down, refuses the
        credentials or builds indexes slowly never holds the start up."""
        if self._preparer is None or self._preparer.done():  # a shared store connects again
            self._preparer = asyncio.create_task(self._prepare_until_done(), name="mongo-prepare")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), PREPARE_START_WAIT)
        if self._prepared:
            return
        failure = self._last_failure
        if failure is None:  # still preparing (a slow index build)
            log.info("store.prepare_pending: indexes are prepared in the background")
        else:  # the start's word on the database, in the fields of dependency.down
            log.warning("store.prepare_pending: the database cannot serve; indexes are prepared "
                        "in the background once it answers", extra=fields(
                            dependency="mongo", reason=failure.reason, detail=failure.detail))

    async def ping(self, timeout: float) -> None:
        await self._run("ping", lambda: self._db.command("ping"), timeout=timeout, report=False)

    async def close(self) -> None:
        if self._preparer is not None:
            self._preparer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._preparer
        await self._calls.drain()  # operations whose callers stopped waiting
        await self._client.close()

    def shared_rate_limiter(self) -> MongoRateLimiter:
        """Limits counted in the database, so they hold across instances."""
        return MongoRateLimiter(self._db["rate_limits"], self._calls)

    async def prepare(self) -> None:
        """Indexes and capabilities, once: concurrent callers wait for the one running."""
        async with self._prepare_lock:
            if self._prepared:
                return
            # A quick round trip first, so an unavailable database fails within the timeout.
            await self._run("prepare.ping", lambda: self._db.command("ping"))
            await self._run("prepare", self._prepare, timeout=max(PREPARE_TIMEOUT, self._timeout),
                            command="hello")
            self._prepared = True

    async def _prepare_until_done(self) -> None:
        """Retry with backoff until prepared. Unavailability is the dependency state's to report;
        any other failure is logged once per kind, and never ends the loop."""
        delay, longest = PREPARE_RETRY
        last_error: str | None = None
        while True:
            try:
                await self.prepare()
                log.info("store.prepared", extra=fields(
                    transactions=self.supports_transactions, ttl=self.supports_ttl))
                return
            except StoreUnavailable as exc:
                self._last_failure = exc
            except Exception as exc:
                if type(exc).__name__ != last_error:
                    log.exception("store.prepare_failed", extra=fields(error=type(exc).__name__))
                last_error = type(exc).__name__
            finally:
                self._first_attempt.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _prepare(self) -> None:
        hello = await self._client.admin.command("hello")
        self.supports_transactions = "setName" in hello or hello.get("msg") == "isdbgrid"
        for name, models in self.required_indexes().items():
            await ensure_indexes(self._db[name], models)
        for name in self.ttl_collections:
            await self._ttl_index(self._db[name])
        if self.needs_transactions and not self.supports_transactions:
            log.warning("store.no_transactions: the server is not a replica set; operations "
                        "that need a transaction will answer 503")

    async def _ttl_index(self, collection: Collection) -> None:
        if not self.supports_ttl or "expiresAt_1" in await _index_names(collection):
            return
        try:
            await collection.create_index("expiresAt", expireAfterSeconds=0)
        except OperationFailure as exc:
            if exc.code != _NOT_IMPLEMENTED:
                raise
            self.supports_ttl = False
            log.warning("store.no_ttl_indexes: the server has no TTL indexes; expired documents "
                        "stay until deleted by hand", extra=fields(reason=str(exc)[:200]))
