"""The periodic catalog refresh is cheap when nothing changed: one small read instead of a
rebuild (counted in database commands, which do not depend on the machine; timed for the
record)."""

import json
import time

from pymongo import monitoring

from app.bootstrap import open_store
from app.domain.content.catalog import CatalogCache
from app.domain.content.models import ContentItem, Tag
from app.domain.ids import new_id, utcnow


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


async def test_refresh_reads_one_document_unless_the_catalog_changed(mongo_settings):
    commands = Commands()
    store = open_store(mongo_settings, [commands])
    await store.connect()
    try:
        now = utcnow()
        for slug in ("a", "b", "c", "d", "e", "f", "g", "h"):
            await store.create_tag(Tag(new_id(), slug, slug.upper(), now, now))
        for n in range(200):
            await store.insert_content(ContentItem(new_id(), f"Item {n}", "https://e.org", None,
                                                   ("abcdefgh"[n % 8],), True, now, now))
        cache = CatalogCache(store)
        await cache.rebuild()

        commands.names.clear()
        started = time.perf_counter()
        for _ in range(20):
            await cache.refresh()
        unchanged = (time.perf_counter() - started) / 20
        assert commands.names == ["find"] * 20  # the stamp, and nothing else

        commands.names.clear()
        started = time.perf_counter()
        for _ in range(20):
            await cache.rebuild()
        rebuild = (time.perf_counter() - started) / 20
        assert commands.names.count("aggregate") == 20

        await store.insert_content(ContentItem(new_id(), "New", "https://e.org", None, ("a",),
                                               True, now, now))
        commands.names.clear()
        snapshot = await cache.refresh()
        assert "aggregate" in commands.names  # changed: rebuilt
        counts = {tag["slug"]: tag["count"] for tag in json.loads(snapshot.body)["tags"]}
        assert counts["a"] == 26
        print(f"catalog refresh (FerretDB, 200 items): unchanged {unchanged * 1000:.2f} ms, "
              f"rebuild {rebuild * 1000:.2f} ms")
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()
