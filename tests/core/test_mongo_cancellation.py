"""The MongoDB adapter never cancels the driver. A caller that stops waiting (the adapter's own
deadline, a probe's timeout, a client that left) leaves the operation to end at the driver's
deadline: on Python 3.11 a cancellation landing inside pymongo's server selection could leave its
topology lock held for good, and the service never saw the database come back
(app/store/mongo_calls.py). The shared rate limiter goes through the same boundary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.domain.database import StoreUnavailable
from app.domain.ratelimit import Limit
from app.store.mongo_database import DEADLINE_MARGIN
from app.store.ratelimit_mongo import MongoRateLimiter
from tests.core.things import Things

TIMEOUT_MS = 200
SLOW = 0.6  # well past the timeout and the margin
SLACK = 0.2  # scheduling on a loaded two-core machine


class SlowCollection:
    """Answers after SLOW seconds, and says whether it was cancelled on the way."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.cancelled = 0

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._slowly(None)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        return await self._slowly({"n": 1})

    async def _slowly(self, answer: Any) -> Any:
        self.started += 1
        try:
            await asyncio.sleep(SLOW)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return answer


@pytest.fixture
async def slow_store() -> AsyncIterator[tuple[Things, SlowCollection]]:
    # The client connects lazily: nothing listens here, and nothing is asked of it.
    store = Things("mongodb://127.0.0.1:9/", "t", timeout_ms=TIMEOUT_MS)
    collection = SlowCollection()
    store._things = collection
    yield store, collection
    await store.close()


async def test_the_caller_stops_waiting_at_the_deadline_and_the_driver_is_not_cancelled(
    slow_store,
):
    store, collection = slow_store
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await store.get_thing("x")
    assert time.monotonic() - started < TIMEOUT_MS / 1000 + DEADLINE_MARGIN + SLACK
    assert caught.value.operation == "things.find"
    await asyncio.sleep(SLOW)
    assert (collection.started, collection.finished, collection.cancelled) == (1, 1, 0)


async def test_a_cancelled_caller_leaves_the_driver_running(slow_store):
    store, collection = slow_store
    caller = asyncio.create_task(store.get_thing("x"))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(SLOW)
    assert (collection.started, collection.finished, collection.cancelled) == (1, 1, 0)


async def test_an_outer_timeout_leaves_the_driver_running(slow_store):
    """As /ready does: asyncio.wait_for around a store call, shorter than the call."""
    store, collection = slow_store
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(store.get_thing("x"), 0.05)
    await asyncio.sleep(SLOW)
    assert (collection.started, collection.finished, collection.cancelled) == (1, 1, 0)


async def test_close_waits_for_operations_still_running(slow_store):
    store, collection = slow_store
    with pytest.raises(StoreUnavailable):
        await store.get_thing("x")
    await store.close()
    assert (collection.finished, collection.cancelled) == (1, 0)


@pytest.fixture
def slow_limiter(slow_store) -> tuple[MongoRateLimiter, SlowCollection, list[str]]:
    store, collection = slow_store
    limiter = store.shared_rate_limiter()
    limiter._collection = collection
    failures: list[str] = []
    store.on_failure(failures.append)
    return limiter, collection, failures


async def test_the_rate_limiter_answers_at_the_deadline_and_the_driver_is_not_cancelled(
    slow_limiter,
):
    limiter, collection, failures = slow_limiter
    started = time.monotonic()
    decision = await limiter.hit("k", Limit(5))
    assert time.monotonic() - started < TIMEOUT_MS / 1000 + DEADLINE_MARGIN + SLACK
    assert decision.allowed and decision.remaining == 5  # fails open
    assert len(failures) == 1  # the dependency state hears of it, as of the store's own calls
    await asyncio.sleep(SLOW)
    assert (collection.started, collection.finished, collection.cancelled) == (1, 1, 0)


async def test_a_cancelled_request_leaves_the_rate_limiters_driver_call_running(slow_limiter):
    limiter, collection, _ = slow_limiter
    caller = asyncio.create_task(limiter.hit("k", Limit(5)))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(SLOW)
    assert (collection.started, collection.finished, collection.cancelled) == (1, 1, 0)
