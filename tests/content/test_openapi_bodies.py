"""The example domain's request bodies in the OpenAPI document: generated from the validation
models, and exactly as nullable and optional as the server treats them."""

from app.store.memory import MemoryStore
from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import build_document
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.content.conftest import ADMIN, curation_client
from tests.test_errors import assert_envelope


def test_request_bodies_come_from_the_validation_models():
    document = build_document(create_app(make_settings())[OPERATIONS])
    schemas = document["components"]["schemas"]
    new_content = schemas["NewContent"]
    assert new_content["additionalProperties"] is False
    assert new_content["properties"]["title"]["maxLength"] == 200
    assert set(new_content["required"]) == {"title", "url", "tags"}
    post = document["paths"]["/admin/content"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert {"201", "400", "401", "403"} <= set(post["responses"])


def _nullable(prop: dict) -> bool:
    types = prop.get("type")
    return types == "null" or (isinstance(types, list) and "null" in types) or any(
        _nullable(branch) for branch in prop.get("anyOf", []) + prop.get("oneOf", []))


class ValidRequests:
    """A fresh, valid request for every operation that takes a body (each call its own tag,
    account or refresh token, so one request never spoils the next)."""

    def __init__(self, api) -> None:
        self.api = api
        self.n = 0

    async def __call__(self, operation_id: str) -> tuple[str, dict]:
        self.n += 1
        n, api = self.n, self.api
        url = f"https://example.org/{n}"
        if operation_id == "post_admin_content":
            return "/admin/content", {"title": f"Item {n}", "url": url, "tags": ["python"],
                                      "thumbnailUrl": url + ".webp", "isActive": True}
        if operation_id == "patch_admin_content_by_id":
            item = await api.item(["python"])
            return f"/admin/content/{item['id']}", {
                "title": f"Item {n}", "url": url, "tags": ["python"],
                "thumbnailUrl": url + ".webp", "isActive": False}
        if operation_id == "post_admin_tags":
            return "/admin/tags", {"slug": f"tag-{n}", "name": f"Tag {n}"}
        if operation_id == "post_admin_tags_by_slug_rename":
            await api.tag(f"old-{n}")
            return f"/admin/tags/old-{n}/rename", {"slug": f"new-{n}", "name": f"New {n}"}
        if operation_id in ("post_auth_register", "post_auth_login"):
            return f"/auth/{operation_id.rsplit('_', 1)[1]}", {
                "email": f"user{n}@example.org" if "register" in operation_id else ADMIN,
                "password": PASSWORD}
        if operation_id in ("post_auth_refresh", "post_auth_logout"):
            login = await api.post("/auth/login", json={"email": ADMIN, "password": PASSWORD})
            token = (await login.json())["data"]["refreshToken"]
            return f"/auth/{operation_id.rsplit('_', 1)[1]}", {"refreshToken": token}
        raise AssertionError(f"no valid request for {operation_id}: add one to ValidRequests")


async def test_every_body_property_is_null_exactly_when_the_schema_says(aiohttp_client):
    """Per request body property: nullable in the document ⇔ the server accepts null; optional
    in the document ⇒ the server accepts the body without it. Every operation, every field."""
    api = await curation_client(aiohttp_client, MemoryStore(), AUTH_ALLOW_SELF_REGISTRATION="true")
    await api.tag("python")
    valid = ValidRequests(api)
    document = build_document(api.app[OPERATIONS])
    schemas = document["components"]["schemas"]
    checked = set()
    for item in document["paths"].values():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            body_schema = schemas[ref.rsplit("/", 1)[1]]
            success = next(int(status) for status in operation["responses"] if int(status) < 300)
            op_id = operation["operationId"]
            for name, prop in body_schema["properties"].items():
                path, body = await valid(op_id)
                response = await api.request(method, path, json=body | {name: None},
                                             headers=api.auth)
                if _nullable(prop):
                    assert response.status == success, (op_id, name, await response.text())
                else:
                    error = await assert_envelope(response, 400, "validation.failed")
                    assert [d["field"] for d in error["error"]["details"]] == [name], op_id
                if name not in body_schema.get("required", []):
                    path, body = await valid(op_id)
                    del body[name]
                    response = await api.request(method, path, json=body, headers=api.auth)
                    assert response.status == success, (op_id, name, await response.text())
                checked.add((op_id, name))
    assert {("patch_admin_content_by_id", "title"), ("post_auth_login", "email"),
            ("post_admin_tags_by_slug_rename", "name")} <= checked
