"""Rate limits shared by every instance: a fixed-window counter per key in MongoDB.

One `findAndModify` per limited request: `$inc` on the key's document for the current window,
created on first use, expiring by TTL one window after it closes. On MongoDB the increment is
atomic, so two instances never both admit the request over the limit. (FerretDB v1 applies
`$inc` as a read-modify-write: concurrent hits on one key can be lost, so there the limit is
approximate; the multi-instance test drives one client, as the limit is meant for.)

When the database cannot serve, requests are let through (fail open): the rate limit must not
turn a database outage into an outage of what is served from memory. Every call goes through the
store's call boundary (`mongo_calls.DriverCalls`), so it is bounded by the same timeout plus
margin, is never cancelled from outside (not even by a request that is), and its failures reach
the same dependency state as the store's own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import OperationFailure, PyMongoError

from app.domain.database import StoreUnavailable
from app.domain.errors import DependencyUnavailable
from app.domain.ratelimit import Decision, Limit, fixed_window_decision
from app.store.mongo_calls import DriverCalls

log = logging.getLogger("app.ratelimit")
_NOT_IMPLEMENTED = 238
CLEANUP_SECONDS = 60.0


class MongoRateLimiter:
    def __init__(
        self, collection: Any, calls: DriverCalls, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._collection = collection
        self._calls = calls
        self._clock = clock
        self._ttl = True
        self._failing = False
        self._cleaned_at = 0.0

    async def prepare(self) -> None:
        try:
            await self._calls.run("rate_limits.create_index", lambda: self._collection.create_index(
                "expiresAt", expireAfterSeconds=0))
        except OperationFailure as exc:
            # Expired windows are deleted by `hit` now and then instead.
            self._ttl = False
            if exc.code != _NOT_IMPLEMENTED:  # e.g. an index of that name with other options
                log.error("ratelimit.no_ttl_index", extra={"fields": {"code": exc.code}})
        except DependencyUnavailable:
            # Unavailable at start: clean up by hand until a later start creates the TTL index.
            self._ttl = False

    async def hit(self, key: str, limit: Limit) -> Decision:
        now = self._clock()
        window = int(now // limit.period)
        window_end = (window + 1) * limit.period

        async def count() -> Any:
            document = await self._collection.find_one_and_update(
                {"_id": f"{key}:{window}"},
                {"$inc": {"n": 1}, "$setOnInsert": {
                    "expiresAt": datetime.fromtimestamp(window_end + limit.period, UTC)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            if not self._ttl and now - self._cleaned_at > CLEANUP_SECONDS:
                self._cleaned_at = now
                await self._collection.delete_many(
                    {"expiresAt": {"$lt": datetime.fromtimestamp(now, UTC)}})
            return document

        try:
            document = await self._calls.run("rate_limits.hit", count, command="findAndModify")
        except (DependencyUnavailable, PyMongoError) as exc:
            # A driver error the boundary does not know is a bug, but still no reason to refuse.
            if not self._failing:
                reason = exc.reason if isinstance(exc, StoreUnavailable) else type(exc).__name__
                log.warning("ratelimit.store_unavailable: letting requests through",
                            extra={"fields": {"reason": reason}})
            self._failing = True
            return Decision(True, limit.count, limit.count, window_end - now, 0.0)
        self._failing = False
        return fixed_window_decision(int(document["n"]), limit, window_end, now)
