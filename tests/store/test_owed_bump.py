"""A catalog write whose stamp bump fails still moves the stamp: the Mongo adapter owes the bump
and pays it at the next `catalog_stamp()` (which every instance's refresher calls), so every
instance rebuilds and serves the write. The memory store bumps in-process and cannot fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from app.bootstrap import open_store
from app.domain.content.catalog import CatalogCache
from app.domain.content.models import ContentItem, ContentQuery
from app.domain.database import StoreUnavailable
from app.domain.ids import new_id, utcnow


class Meta:
    """The meta collection, with its stamp updates failing or held on demand."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.fail = 0  # how many of the next updates fail (after nothing reached the server)
        self.hold: asyncio.Event | None = None  # updates sent now answer once it is set
        self.landed = asyncio.Event()  # an update reached the database
        self.updates = 0

    def find_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._collection.find_one(*args, **kwargs)

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        self.updates += 1
        hold = self.hold
        if self.fail:
            self.fail -= 1
            raise AutoReconnect("connection closed")  # the adapter's StoreUnavailable
        result = await self._collection.update_one(*args, **kwargs)
        self.landed.set()
        if hold is not None:
            await hold.wait()
        return result


@pytest.fixture
async def mongo(mongo_settings) -> AsyncIterator[Any]:
    store = open_store(mongo_settings)
    await store.connect()
    store._meta = Meta(store._meta)
    try:
        yield store
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()


def an_item(title: str = "Owed") -> ContentItem:
    now = utcnow()
    return ContentItem(new_id(), title, "https://example.org/o", None, (), True, now, now)


async def test_a_failed_bump_is_paid_at_the_next_stamp_read(mongo):
    cache = CatalogCache(mongo, max_items=100)
    built = await cache.rebuild()
    item = an_item()
    mongo._meta.fail = 1
    with pytest.raises(StoreUnavailable):
        await mongo.insert_content(item)  # the caller hears of the failure, as before
    assert await mongo.get_content(item.id) == item  # yet the write landed
    assert await mongo.catalog_stamp() != built.stamp  # the owed bump, paid
    await cache.refresh()
    assert cache.content is not None and cache.content.matches(ContentQuery()) == [item.id]
    updates = mongo._meta.updates
    assert await mongo.catalog_stamp() == cache.snapshot.stamp  # paid once, not on every read
    assert mongo._meta.updates == updates


async def test_a_bump_sent_before_a_failure_does_not_pay_for_it(mongo):
    """Two writes at once: the bump that lands first and answers last must not clear the debt
    of the write that landed after it."""
    first, second = an_item("first"), an_item("second")
    release = mongo._meta.hold = asyncio.Event()
    writing = asyncio.ensure_future(mongo.insert_content(first))
    await mongo._meta.landed.wait()  # the first bump landed; its answer is held
    mongo._meta.hold, mongo._meta.fail = None, 1
    with pytest.raises(StoreUnavailable):
        await mongo.insert_content(second)
    release.set()
    await writing  # the first bump answers after the second one failed
    stamp = (await mongo._meta.find_one({"_id": "catalog"}))["stamp"]
    assert await mongo.catalog_stamp() == stamp + 1  # still owed, so paid now


async def test_a_write_that_fails_as_unavailable_owes_a_bump_too(mongo):
    """A write that times out after the server applied it: the caller hears 503, the item is
    there, and the stamp must still move."""
    cache = CatalogCache(mongo, max_items=100)
    built = await cache.rebuild()
    item = an_item("Landed late")
    content = mongo._content

    class LandsThenFails:
        def __getattr__(self, name: str) -> Any:
            return getattr(content, name)

        async def insert_one(self, *args: Any, **kwargs: Any) -> Any:
            await content.insert_one(*args, **kwargs)
            raise AutoReconnect("timed out after the server applied it")

    mongo._content = LandsThenFails()
    with pytest.raises(StoreUnavailable):
        await mongo.insert_content(item)
    mongo._content = content
    assert await mongo.catalog_stamp() != built.stamp
    await cache.refresh()
    assert cache.content is not None and cache.content.matches(ContentQuery()) == [item.id]
