"""`GET /content` and `GET /content/{id}`: filters, literal search, cursor pagination."""

import asyncio

import pytest

from tests.test_errors import assert_envelope


async def page_through(api, query: str = "", limit: int = 3) -> list[dict]:
    seen, cursor = [], None
    for _ in range(100):
        suffix = f"&cursor={cursor}" if cursor else ""
        response = await api.get(f"/content?limit={limit}{query}{suffix}")
        assert response.status == 200
        body = await response.json()
        seen += body["data"]
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


async def test_pages_cover_every_active_item_once_newest_first(api):
    await api.tag("python")
    items = [await api.item(["python"]) for _ in range(8)]
    await api.item(["python"], isActive=False)
    seen = await page_through(api)
    assert sorted(item["id"] for item in seen) == sorted(item["id"] for item in items)
    assert [item["id"] for item in seen] == sorted((item["id"] for item in seen), reverse=True)


async def test_pagination_is_stable_while_items_are_inserted(api):
    await api.tag("python")
    before = {(await api.item(["python"]))["id"] for _ in range(12)}

    async def keep_inserting() -> set[str]:
        added = set()
        for _ in range(12):
            added.add((await api.item(["python"]))["id"])
            await asyncio.sleep(0)
        return added

    seen_list, added = await asyncio.gather(page_through(api, limit=2), keep_inserting())
    seen_ids = [item["id"] for item in seen_list]
    assert len(seen_ids) == len(set(seen_ids)), "an item appeared twice"
    assert before <= set(seen_ids), "an item that existed before was skipped"
    assert set(seen_ids) <= before | added


async def test_default_and_maximum_limits(api):
    await api.tag("python")
    for _ in range(22):
        await api.item(["python"])
    body = await (await api.get("/content")).json()
    assert len(body["data"]) == 20 and body["meta"]["nextCursor"]
    assert len(await api.data("/content?limit=100")) == 22


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
     # An integer is digits, as the document says; a lax parser took each of these.
     ("limit=5.0", "limit"), ("limit=%2B5", "limit"), ("limit=1_0", "limit"),
     ("limit=" + "0" * 4400 + "5", "limit"), ("limit=%EF%BC%95", "limit"),
     ("cursor=bm90LWEtY3Vyc29y", "cursor"), ("cursor=%25%25", "cursor"),
     ("cursor=01h00000000000000000000000", "cursor"),
     ("tag=Not%20A%20Slug", "tag"), ("q=" + "x" * 101, "q")],
)
async def test_bad_query_parameters_are_400(api, query, field):
    response = await api.get(f"/content?{query}")
    body = await assert_envelope(response, 400, "validation.failed")
    assert [detail["field"] for detail in body["error"]["details"]] == [field]


async def test_unknown_query_parameters_are_ignored(api):
    assert (await api.get("/content?_=12345")).status == 200


async def test_filter_by_tag(api):
    await api.tag("python")
    await api.tag("go")
    py = await api.item(["python"])
    both = await api.item(["python", "go"])
    await api.item(["go"])
    assert {item["id"] for item in await api.data("/content?tag=python")} == {py["id"], both["id"]}
    assert await api.data("/content?tag=rust") == []


async def test_text_search_is_literal_and_case_insensitive(api):
    await api.tag("python")
    regexy = await api.item(["python"], title="Operators (a+b)* in Python")
    plain = await api.item(["python"], title="Plain TITLE here")
    assert [i["id"] for i in await api.data("/content?q=(A%2BB)*")] == [regexy["id"]]
    assert [i["id"] for i in await api.data("/content?q=title")] == [plain["id"]]
    assert await api.data("/content?q=.*") == []  # a pattern is just text
    assert await api.data("/content?q=%5E") == []


async def test_get_one_item(api):
    await api.tag("python")
    item = await api.item(["python"], thumbnailUrl="https://example.org/t.webp")
    data = await api.data(f"/content/{item['id']}")
    assert data == item
    assert set(data) == {"id", "title", "url", "thumbnailUrl", "tags", "isActive",
                         "createdAt", "updatedAt"}


async def test_missing_inactive_and_malformed_ids_are_404(api):
    await api.tag("python")
    hidden = await api.item(["python"], isActive=False)
    for item_id in (hidden["id"], "01H00000000000000000000000", "not-an-id", "x" * 300):
        await assert_envelope(await api.get(f"/content/{item_id}"), 404, "resource.not_found")
