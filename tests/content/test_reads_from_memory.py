"""`/content` and `/content/{id}` from the in-memory snapshot (issue 15): the bytes the store path
writes, writes served at once by the instance that made them and by the others after their
refresh, a bounded size with a fallback that says so, and no database needed to answer."""

from __future__ import annotations

import asyncio
import time

import orjson

from app.domain.content.models import ContentItem, ContentQuery, Tag, item_json
from app.domain.database import StoreUnavailable
from app.domain.ids import new_id, utcnow
from app.store.memory import MemoryStore
from app.web.app import create_app
from app.web.example_keys import CATALOG
from tests.conftest import make_settings
from tests.content.conftest import curation_client
from tests.test_errors import assert_envelope

PATHS = ("/content", "/content?limit=2", "/content?tag=python", "/content?q=ITEM%201",
         "/content?q=.*", "/content?tag=go&limit=1", "/content?limit=100&q=item")


async def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.1)


async def test_the_same_bytes_as_the_store_path(aiohttp_client, store):
    memory = await curation_client(aiohttp_client, store)
    database = await curation_client(aiohttp_client, store, CONTENT_SNAPSHOT_MAX_ITEMS="0")
    await memory.tag("python")
    await memory.tag("go")
    items = [await memory.item(["python"]), await memory.item(["go", "python"]),
             await memory.item(["go"], thumbnailUrl="https://img.example.org/t.png"),
             await memory.item(["python"], isActive=False), await memory.item([])]
    assert memory.client.app[CATALOG].content is not None
    assert database.client.app[CATALOG].content is None
    ids = [item["id"] for item in items]
    page = await memory.get("/content?limit=2")
    cursor = (await page.json())["meta"]["nextCursor"]
    paths = [*PATHS, f"/content?cursor={cursor}", *(f"/content/{id_}" for id_ in ids),
             "/content/not-an-id"]
    for path in paths:
        headers = {"X-Request-Id": "req-compare-1"}
        a = await memory.get(path, headers=headers)
        b = await database.get(path, headers=headers)
        assert (a.status, a.content_type, await a.read()) == (
            b.status, b.content_type, await b.read()), path
    # And the bytes `json_ok` wrote before (orjson over the whole envelope).
    listed = await store.list_content(ContentQuery(tag="go", limit=21))
    expected = orjson.dumps({"data": [item_json(item) for item in listed],
                             "meta": {"requestId": "req-compare-1", "nextCursor": None}})
    response = await memory.get("/content?tag=go", headers={"X-Request-Id": "req-compare-1"})
    assert await response.read() == expected


async def test_the_instance_that_writes_serves_it_at_once(api):
    await api.tag("python")
    item = await api.item(["python"], title="Fresh")
    assert (await api.data(f"/content/{item['id']}"))["title"] == "Fresh"
    await api.patch(f"/admin/content/{item['id']}", json={"title": "Edited"}, headers=api.auth)
    assert (await api.data("/content"))[0]["title"] == "Edited"
    await api.patch(f"/admin/content/{item['id']}", json={"isActive": False}, headers=api.auth)
    await assert_envelope(await api.get(f"/content/{item['id']}"), 404, "resource.not_found")
    assert await api.data("/content") == []


async def test_another_instance_serves_a_write_after_its_refresh(aiohttp_client, store):
    writer = await curation_client(aiohttp_client, store)
    reader = await curation_client(aiohttp_client, store, CATALOG_REFRESH_SECONDS="0.2")
    await writer.tag("python")
    item = await writer.item(["python"], title="Made elsewhere")

    async def served() -> bool:
        return (await reader.get(f"/content/{item['id']}")).status == 200

    await eventually(served)
    assert [i["id"] for i in await reader.data("/content?tag=python")] == [item["id"]]
    snapshot = reader.client.app[CATALOG].content
    assert snapshot is not None and snapshot.item(item["id"]) is not None  # from memory

    await writer.delete(f"/admin/content/{item['id']}", headers=writer.auth)

    async def gone() -> bool:
        return (await reader.get(f"/content/{item['id']}")).status == 404

    await eventually(gone)


class CountingStore(MemoryStore):
    """The memory store, recording the limit of every list_content call."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[int] = []

    async def list_content(self, query: ContentQuery) -> list[ContentItem]:
        self.listed.append(query.limit)
        return await super().list_content(query)


async def add_items(store: MemoryStore, count: int) -> list[ContentItem]:
    now = utcnow()
    if not await store.existing_tag_slugs(["python"]):
        await store.create_tag(Tag(new_id(), "python", "Python", now, now))
    items = [ContentItem(new_id(), f"Item {n}", f"https://example.org/{n}", None, ("python",),
                         True, now, now) for n in range(count)]
    for item in items:
        await store.insert_content(item)
    return items


async def test_above_the_limit_the_store_answers_and_the_service_says_so(aiohttp_client, logs):
    store = CountingStore()
    items = await add_items(store, 3)
    api = await curation_client(aiohttp_client, store, CONTENT_SNAPSHOT_MAX_ITEMS="2")
    (line,) = logs.find("content.snapshot_over_limit: more active items than "
                        "CONTENT_SNAPSHOT_MAX_ITEMS; /content reads the database")
    assert (line["level"], line["activeItemsAtLeast"], line["limit"]) == ("warn", 3, 2)
    assert api.client.app[CATALOG].content is None
    store.listed.clear()
    assert len(await api.data("/content")) == 3
    await api.data(f"/content/{items[0].id}")
    assert store.listed == [21]  # the page came from the store (limit + 1)
    assert (await api.data("/catalog"))["tags"][0]["count"] == 3  # counted by the store

    await api.item(["python"])  # still above: not said again
    assert len(logs.find(line["msg"])) == 1

    for item in items:  # 1 left: within the limit (at 2), from memory again
        await api.delete(f"/admin/content/{item.id}", headers=api.auth)
    assert [back["activeItems"] for back in logs.find(
        "content.snapshot_within_limit: /content is served from memory again")] == [2]
    store.listed.clear()
    assert len(await api.data("/content")) == 1
    assert store.listed == []

    await add_items(store, 2)  # crossing again is news again
    await api.item(["python"])
    assert len(logs.find(line["msg"])) == 2


async def test_a_limit_of_zero_keeps_no_snapshot(aiohttp_client, logs):
    store = CountingStore()
    await add_items(store, 2)
    api = await curation_client(aiohttp_client, store, CONTENT_SNAPSHOT_MAX_ITEMS="0")
    assert api.client.app[CATALOG].content is None
    assert store.listed == []  # the items are never read whole
    assert len(await api.data("/content")) == 2
    assert logs.find("content.snapshot_over_limit: more active items than "
                     "CONTENT_SNAPSHOT_MAX_ITEMS; /content reads the database") == []


class SwitchableStore(MemoryStore):
    """The memory store with its content reads switched off, as a database outage would."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("unreachable", "content.list")

    async def list_content(self, query: ContentQuery) -> list[ContentItem]:
        self._check()
        return await super().list_content(query)

    async def get_content(self, item_id: str) -> ContentItem | None:
        self._check()
        return await super().get_content(item_id)

    async def catalog_stamp(self) -> int:
        self._check()
        return await super().catalog_stamp()


async def test_without_the_database_the_snapshot_answers(aiohttp_client):
    store = SwitchableStore()
    (item,) = await add_items(store, 1)
    client = await aiohttp_client(create_app(make_settings(), store=store))
    before = [await (await client.get(path)).read() for path in ("/content", f"/content/{item.id}")]
    store.down = True
    for path, body in zip(("/content", f"/content/{item.id}"), before, strict=True):
        response = await client.get(path)
        assert response.status == 200
        # The same document; only the request id differs.
        assert orjson.loads(await response.read())["data"] == orjson.loads(body)["data"]


async def test_before_the_first_snapshot_content_needs_the_database(aiohttp_client):
    store = SwitchableStore()
    (item,) = await add_items(store, 1)
    store.down = True  # down at start: nothing to serve from
    client = await aiohttp_client(create_app(
        make_settings(CATALOG_REFRESH_SECONDS="0.2"), store=store))
    assert client.app[CATALOG].content is None
    for path in ("/content", f"/content/{item.id}"):
        await assert_envelope(await client.get(path), 503, "dependency.unavailable")
    store.down = False

    async def served() -> bool:
        return client.app[CATALOG].content is not None  # the refresher built the first one

    await eventually(served)
    assert (await client.get(f"/content/{item.id}")).status == 200


def test_the_limit_defaults_to_10000_and_0_turns_the_snapshot_off():
    assert make_settings().content_snapshot_max_items == 10_000
    assert make_settings(CONTENT_SNAPSHOT_MAX_ITEMS="0").content_snapshot_max_items == 0
