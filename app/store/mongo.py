"""MongoDB adapter on pymongo's native async client (no thread pool).

Every operation is bounded by the client-side timeout (`timeoutMS`), and every driver error that
means "the database is not answering" becomes `DependencyUnavailable`, so a request never hangs
past the configured timeout and never turns a database outage into a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure, PyMongoError

from app.domain.errors import DependencyUnavailable
from app.telemetry import fields, get_logger

log = get_logger(__name__)


@contextmanager
def unavailable_on_failure(operation: str) -> Iterator[None]:
    """Translate connection failures and timeouts into the domain's DependencyUnavailable."""
    try:
        yield
    except PyMongoError as exc:
        if isinstance(exc, ConnectionFailure) or exc.timeout:
            raise DependencyUnavailable(f"The database did not answer ({operation})") from exc
        raise


class MongoStore:
    name = "mongo"

    def __init__(self, uri: str, database: str, *, timeout_ms: int) -> None:
        # Built inside the running loop (from the app's cleanup context): the async client
        # belongs to the loop that creates it.
        self._client: AsyncMongoClient = AsyncMongoClient(
            uri,
            appname="catalog-api",
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            timeoutMS=timeout_ms,
            w="majority",
            tz_aware=True,
        )
        self._db = self._client[database]
        self._timeout = timeout_ms / 1000

    async def connect(self) -> None:
        try:
            await self.ping(timeout=self._timeout)
        except DependencyUnavailable:
            log.warning("store.unreachable_at_start", extra=fields(store=self.name))

    async def ping(self, timeout: float) -> None:
        with unavailable_on_failure("ping"), pymongo.timeout(timeout):
            await self._db.command("ping")

    async def close(self) -> None:
        await self._client.close()
