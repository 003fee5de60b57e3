"""`/catalog` and `/meta`: counts, the strong ETag, 304s, and a cache that follows changes."""

import asyncio

import pytest

from app.domain.content.models import ContentItem
from app.domain.ids import new_id, utcnow
from app.identity import NAME
from app.web.example_keys import CATALOG
from tests.content.conftest import curation_client


async def test_empty_catalog(api):
    data = await api.data("/catalog")
    assert data["tags"] == [] and isinstance(data["version"], str)


async def test_counts_active_items_of_tags_that_have_any(api):
    await api.tag("python")
    await api.tag("go")
    await api.tag("empty")
    await api.item(["python"])
    await api.item(["python", "go"])
    await api.item(["go"], isActive=False)
    catalog = await api.data("/catalog")
    assert catalog["tags"] == [
        {"slug": "go", "name": "Go", "count": 1},
        {"slug": "python", "name": "Python", "count": 2},
    ]


async def test_strong_etag_cache_control_and_304(api):
    await api.tag("python")
    await api.item(["python"])
    response = await api.get("/catalog")
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=300"
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await api.get("/catalog", headers={"If-None-Match": header})
        assert cached.status == 304, header
        assert cached.headers["ETag"] == etag
        assert cached.headers["X-Request-Id"]
        assert await cached.read() == b""
    stale = await api.get("/catalog", headers={"If-None-Match": '"something-else"'})
    assert stale.status == 200


async def test_the_catalog_follows_changes_at_once(api):
    await api.tag("python")
    before = (await api.get("/catalog")).headers["ETag"]
    item = await api.item(["python"])
    after = await api.get("/catalog", headers={"If-None-Match": before})
    assert after.status == 200 and after.headers["ETag"] != before
    assert (await after.json())["data"]["tags"][0]["count"] == 1
    await api.delete(f"/admin/content/{item['id']}", headers=api.auth)
    assert (await api.data("/catalog"))["tags"] == []


async def test_periodic_refresh_sees_changes_made_elsewhere(aiohttp_client, store):
    api = await curation_client(aiohttp_client, store, CATALOG_REFRESH_SECONDS="0.2")
    await api.tag("python")
    # Another instance writes straight to the store: this one hears no event.
    now = utcnow()
    await store.insert_content(ContentItem(new_id(), "Elsewhere", "https://example.org/e", None,
                                           ("python",), True, now, now))
    for _ in range(50):
        tags = (await api.data("/catalog"))["tags"]
        if tags:
            break
        await asyncio.sleep(0.1)
    assert tags == [{"slug": "python", "name": "Python", "count": 1}]


async def test_instances_agree_on_version_and_etag(aiohttp_client, store):
    first = await curation_client(aiohttp_client, store)
    await first.tag("python")
    await first.item(["python"])
    second = await curation_client(aiohttp_client, store)
    a, b = await first.get("/catalog"), await second.get("/catalog")
    assert a.headers["ETag"] == b.headers["ETag"]
    assert (await a.json())["data"] == (await b.json())["data"]


async def test_meta_has_versions_and_an_etag(api):
    await api.tag("python")
    await api.item(["python"])
    response = await api.get("/meta")
    meta = (await response.json())["data"]
    assert meta["service"] == NAME and meta["apiVersion"] == "1"
    assert meta["catalogVersion"] == (await api.data("/catalog"))["version"]
    assert meta["features"] == {"selfRegistration": False}
    etag = response.headers["ETag"]
    assert (await api.get("/meta", headers={"If-None-Match": etag})).status == 304
    await api.item(["python"])  # a new catalog version changes /meta too
    assert (await api.get("/meta", headers={"If-None-Match": etag})).status == 200


async def test_hits_and_misses_are_counted(api):
    cache = api.client.app[CATALOG]
    hits = cache.hits
    for _ in range(3):
        await api.get("/catalog")
    assert cache.hits == hits + 3
    assert cache.misses == 0


@pytest.mark.parametrize("store", ["memory"], indirect=True)
async def test_ready_waits_for_the_catalog(api):
    ready = await api.get("/ready")
    assert (await ready.json())["data"]["checks"]["catalog"] == "ok"


def test_cached_json_serves_the_data_it_is_given_under_a_known_etag():
    # The prepared envelope is cached per (etag, cache control): a different document under
    # the same validators must still be served as itself.
    from aiohttp.test_utils import make_mocked_request

    from app.web.conditional import cached_json

    request = make_mocked_request("GET", "/catalog")
    first = cached_json(request, b'{"v":1}', '"same"', "no-cache")
    second = cached_json(request, b'{"v":2}', '"same"', "no-cache")
    assert first.body.startswith(b'{"data":{"v":1},')
    assert second.body.startswith(b'{"data":{"v":2},')
    assert second.headers["Content-Type"] == "application/json"
    assert second.headers["ETag"] == '"same"' and second.headers["Cache-Control"] == "no-cache"
    second.headers["X-Added"] = "1"  # one answer's headers are its own
    revalidation = make_mocked_request("GET", "/catalog", headers={"If-None-Match": '"same"'})
    cached = cached_json(revalidation, b'{"v":2}', '"same"', "no-cache")
    assert cached.status == 304 and "X-Added" not in cached.headers
    assert "Content-Type" not in cached.headers and cached.headers["ETag"] == '"same"'
