"""Curation: roles, validation with field details, updates, deletes, tags, and tag rename."""

import jsonschema_rs
import pytest

from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import build_document
from tests.auth.conftest import AuthClient
from tests.conftest import make_settings
from tests.test_errors import assert_envelope


async def test_admin_routes_need_a_curator(aiohttp_client, store):
    client = AuthClient(await aiohttp_client(create_app(
        make_settings(AUTH_ALLOW_SELF_REGISTRATION="true"), store=store)))
    user = await client.register()
    as_user = {"Authorization": f"Bearer {user.access}"}
    calls = [("POST", "/admin/content"), ("PATCH", "/admin/content/01H00000000000000000000000"),
             ("DELETE", "/admin/content/01H00000000000000000000000"), ("POST", "/admin/tags"),
             ("POST", "/admin/tags/python/rename")]
    for method, path in calls:
        await assert_envelope(await client.request(method, path, json={}), 401,
                              "auth.unauthorized")
        await assert_envelope(await client.request(method, path, json={}, headers=as_user), 403,
                              "auth.forbidden")


async def test_create_returns_201_and_the_item(api):
    await api.tag("python")
    response = await api.post("/admin/content", headers=api.auth, json={
        "title": "  A title  ", "url": "https://example.org/a", "tags": ["python", "python"],
    })
    assert response.status == 201
    item = (await response.json())["data"]
    assert item["title"] == "A title" and item["tags"] == ["python"]
    assert item["isActive"] is True and item["thumbnailUrl"] is None
    assert item["createdAt"] == item["updatedAt"] and item["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"title": "", "url": "https://e.org", "tags": []}, ["title"]),
        ({"title": "x" * 201, "url": "https://e.org", "tags": []}, ["title"]),
        ({"title": "t", "url": "javascript:alert(1)", "tags": []}, ["url"]),
        ({"title": "t", "url": "ftp://e.org/f", "tags": []}, ["url"]),
        ({"title": "t", "url": "https://e.org", "tags": [], "thumbnailUrl": "data:x"},
         ["thumbnailUrl"]),
        ({"title": "t", "url": "https://e.org", "tags": ["Bad Slug"]}, ["tags.0"]),
        ({"title": "t", "url": "https://e.org", "tags": [], "extra": 1}, ["extra"]),
        ({"title": {"$ne": ""}, "url": "https://e.org", "tags": []}, ["title"]),
        ({"url": 5, "tags": "python"}, ["title", "url", "tags"]),
        ({"title": "t", "url": "https://e.org", "tags": ["nope"]}, ["tags"]),
    ],
)
async def test_create_validation_names_each_field(api, body, fields):
    response = await api.post("/admin/content", headers=api.auth, json=body)
    error = await assert_envelope(response, 400, "validation.failed")
    assert sorted({d["field"] for d in error["error"]["details"]}) == sorted(fields)


async def test_validation_failure_changes_nothing(api):
    await api.tag("python")
    before = await api.data("/catalog")
    await api.post("/admin/content", headers=api.auth,
                   json={"title": "t", "url": "https://e.org", "tags": ["python", "nope"]})
    assert await api.data("/catalog") == before
    assert await api.data("/content") == []


async def test_patch_changes_only_what_is_sent(api):
    await api.tag("python")
    await api.tag("go")
    item = await api.item(["python"], thumbnailUrl="https://example.org/t.webp")
    response = await api.patch(f"/admin/content/{item['id']}", headers=api.auth,
                               json={"title": "New title", "tags": ["go"]})
    assert response.status == 200
    updated = (await response.json())["data"]
    assert updated["title"] == "New title" and updated["tags"] == ["go"]
    assert updated["url"] == item["url"] and updated["thumbnailUrl"] == item["thumbnailUrl"]
    assert updated["updatedAt"] >= item["updatedAt"]
    cleared = await api.patch(f"/admin/content/{item['id']}", headers=api.auth,
                              json={"thumbnailUrl": None, "isActive": False})
    assert (await cleared.json())["data"]["thumbnailUrl"] is None
    await assert_envelope(await api.get(f"/content/{item['id']}"), 404, "resource.not_found")


@pytest.mark.parametrize("body", [{"title": None}, {"tags": ["missing"]}, {"isActive": "yes"}])
async def test_patch_validation(api, body):
    await api.tag("python")
    item = await api.item(["python"])
    response = await api.patch(f"/admin/content/{item['id']}", headers=api.auth, json=body)
    await assert_envelope(response, 400, "validation.failed")
    assert await api.data(f"/content/{item['id']}") == item


async def test_patch_and_delete_of_missing_items_are_404(api):
    for item_id in ("01H00000000000000000000000", "bogus"):
        response = await api.patch(f"/admin/content/{item_id}", headers=api.auth,
                                   json={"title": "x"})
        await assert_envelope(response, 404, "resource.not_found")
        response = await api.delete(f"/admin/content/{item_id}", headers=api.auth)
        await assert_envelope(response, 404, "resource.not_found")


async def test_delete_is_204_then_gone(api):
    await api.tag("python")
    item = await api.item(["python"])
    assert (await api.delete(f"/admin/content/{item['id']}", headers=api.auth)).status == 204
    await assert_envelope(await api.get(f"/content/{item['id']}"), 404, "resource.not_found")


async def test_duplicate_tag_is_409(api):
    await api.tag("python")
    response = await api.post("/admin/tags", headers=api.auth,
                              json={"slug": "python", "name": "Again"})
    await assert_envelope(response, 409, "conflict")


def needs_transactions(store) -> None:
    if store.name == "mongo" and not store.supports_transactions:
        pytest.skip("tag rename needs transactions; the Mongo test server "
                    "(FerretDB v1.24.2, standalone) has none")


async def test_rename_moves_every_item_and_the_catalog_follows(api, store):
    needs_transactions(store)
    await api.tag("py", "Py")
    await api.tag("go")
    items = [await api.item(["py"]), await api.item(["go", "py"]), await api.item(["go"])]
    response = await api.post("/admin/tags/py/rename", headers=api.auth,
                              json={"slug": "python", "name": "Python"})
    assert response.status == 200
    assert (await response.json())["data"] == {"slug": "python", "name": "Python"}
    assert [t["slug"] for t in (await api.data("/catalog"))["tags"]] == ["go", "python"]
    moved = {item["id"] for item in await api.data("/content?tag=python")}
    assert moved == {items[0]["id"], items[1]["id"]}
    assert await api.data("/content?tag=py") == []
    assert (await api.data(f"/content/{items[1]['id']}"))["tags"] == ["go", "python"]


async def test_rename_conflicts_and_missing(api, store):
    needs_transactions(store)
    await api.tag("py")
    await api.tag("go")
    response = await api.post("/admin/tags/py/rename", headers=api.auth, json={"slug": "go"})
    await assert_envelope(response, 409, "conflict")
    response = await api.post("/admin/tags/nope/rename", headers=api.auth, json={"slug": "x"})
    await assert_envelope(response, 404, "resource.not_found")


@pytest.mark.parametrize("store", ["mongo"], indirect=True)
async def test_rename_without_transactions_is_503_and_changes_nothing(api, store):
    if store.supports_transactions:
        pytest.skip("this MongoDB has transactions, so it renames")
    await api.tag("py")
    item = await api.item(["py"])
    response = await api.post("/admin/tags/py/rename", headers=api.auth, json={"slug": "python"})
    body = await assert_envelope(response, 503, "dependency.unavailable")
    assert "replica set" in body["error"]["message"]
    assert (await api.data(f"/content/{item['id']}"))["tags"] == ["py"]


async def _change_account(store, user_id: str, roles: tuple[str, ...] | None) -> None:
    """What an operator does in the database: delete the account (None) or change its roles."""
    from dataclasses import replace

    if store.name == "memory":
        if roles is None:
            del store._users[user_id]
        else:
            store._users[user_id] = replace(store._users[user_id], roles=roles)
        return
    if roles is None:
        await store._users.delete_one({"_id": user_id})
    else:
        await store._users.update_one({"_id": user_id}, {"$set": {"roles": list(roles)}})


@pytest.mark.parametrize(("change", "status", "code"), [
    (None, 401, "auth.unauthorized"), (("user",), 403, "auth.forbidden")])
async def test_privileged_writes_check_the_live_account(api, store, change, status, code):
    # The token still says admin and has most of its life left; the account says otherwise.
    me = await api.data("/me", headers=api.auth)
    assert (await api.post("/admin/tags", json={"slug": "before", "name": "B"},
                           headers=api.auth)).status == 201
    await _change_account(store, me["id"], change)
    await assert_envelope(await api.post("/admin/tags", json={"slug": "after", "name": "A"},
                                         headers=api.auth), status, code)
    await assert_envelope(await api.delete("/admin/content/01H00000000000000000000000",
                                           headers=api.auth), status, code)
    assert [t["slug"] for t in (await api.data("/catalog"))["tags"]] in ([], ["before"])


# Text on which regex dialects and trimming part ways (U+0085 is whitespace to Rust and Python,
# U+FEFF to ECMA-262, U+001C to Python only), and lengths over a limit only before trimming.
TRICKY_TEXT = [" ", "\u0085", "\ufeff", "\x1c", "\x00", "x\u0085", "\ufeffx", "x\x1c", "é",
               " " + "x" * 200, "x" * 200, " " + "x" * 100, "x" * 100]


@pytest.mark.parametrize("store", ["memory"], indirect=True)
@pytest.mark.parametrize("field", ["title", "url", "tag name"])
async def test_the_server_judges_text_as_the_document_does(api, field):
    # The document read as JSON Schema reads it (ECMA-262 patterns), like clients and schemathesis.
    await api.tag("python")
    schemas = build_document(api.app[OPERATIONS])["components"]["schemas"]
    verdicts = set()
    for n, text in enumerate(TRICKY_TEXT):
        if field == "tag name":
            path, model, body = "/admin/tags", "NewTag", {"slug": f"t{n}", "name": text}
        else:
            path, model = "/admin/content", "NewContent"
            body = {"title": "t", "url": "https://example.org/", "tags": ["python"]}
            body[field] = f"https://example.org/{text}" if field == "url" else text
        valid = jsonschema_rs.is_valid(schemas[model], body)
        response = await api.post(path, json=body, headers=api.auth)
        assert response.status == (201 if valid else 400), (field, text, await response.text())
        verdicts.add(valid)
    assert verdicts == {True, False}
