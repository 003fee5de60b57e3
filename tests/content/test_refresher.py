"""The catalog refresher (the example domain's background work) survives anything a refresh
raises, says so once, and serves the last catalog meanwhile."""

from __future__ import annotations

import asyncio
import time

from app.domain.content.models import ContentItem, Tag
from app.domain.ids import new_id, utcnow
from app.store.memory import MemoryStore
from app.web.app import create_app
from tests.conftest import make_settings
from tests.test_dependency import eventually


class FlakyStore(MemoryStore):
    """The memory store with a switch that makes chosen calls raise an arbitrary exception."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.broken:
            raise RuntimeError(f"{name} blew up")

    async def catalog_stamp(self) -> int:
        self._maybe_fail("catalog_stamp")
        return await super().catalog_stamp()


async def test_the_catalog_refresh_survives_anything_and_says_so_once(aiohttp_client, logs):
    store = FlakyStore()
    client = await aiohttp_client(create_app(
        make_settings(CATALOG_REFRESH_SECONDS="0.2"), store=store))
    store.broken.add("catalog_stamp")
    calls = store.calls.get("catalog_stamp", 0)
    await eventually(lambda: store.calls["catalog_stamp"] >= calls + 4)

    # A change the refresher alone can pick up: straight into the store, past the event bus.
    now = utcnow()
    await store.create_tag(Tag(new_id(), "late", "Late", now, now))
    await store.insert_content(ContentItem(new_id(), "Late", "https://example.org/l", None,
                                           ("late",), True, now, now))
    store.broken.clear()

    async def has_late() -> bool:
        data = (await (await client.get("/catalog")).json())["data"]
        return any(tag["slug"] == "late" for tag in data["tags"])

    deadline = time.monotonic() + 5
    while not await has_late():
        assert time.monotonic() < deadline, "the refresher did not recover"
        await asyncio.sleep(0.1)
    assert len(logs.find("catalog.refresh_failed")) == 1
    assert len(logs.find("catalog.refresh_recovered")) == 1
