"""The example's MongoDB store prepares its own indexes on the core adapter's machinery: the
unique ones that make an email, a token id and a tag slug unique, and TTL where the server has
them (the machinery itself is tested in tests/core/test_mongo_failures.py)."""

from __future__ import annotations

from app.bootstrap import open_store
from app.store.mongo import MongoStore, required_indexes


async def test_connect_prepares_every_required_index(mongo_settings):
    store = open_store(mongo_settings)
    assert isinstance(store, MongoStore)
    try:
        await store.connect()
        await store.prepare()
        for name, models in required_indexes().items():
            present = {i["name"] async for i in await store._db[name].list_indexes()}
            assert {model.document["name"] for model in models} <= present, name
        if store.supports_ttl:
            for name in store.ttl_collections:
                present = {i["name"] async for i in await store._db[name].list_indexes()}
                assert "expiresAt_1" in present, name
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()
