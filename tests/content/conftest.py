from __future__ import annotations

from typing import Any

import pytest

from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings

ADMIN = "curator-admin@example.org"


class CurationClient:
    """The test client, logged in as the bootstrap admin, with the calls the tests repeat."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}
        self._n = 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    async def tag(self, slug: str, name: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/admin/tags", json={"slug": slug, "name": name or slug.title()}, headers=self.auth
        )
        assert response.status == 201, await response.text()
        return (await response.json())["data"]

    async def item(self, tags: list[str], **fields: Any) -> dict[str, Any]:
        self._n += 1
        body = {"title": f"Item {self._n}", "url": f"https://example.org/{self._n}", "tags": tags}
        body.update(fields)
        response = await self.client.post("/admin/content", json=body, headers=self.auth)
        assert response.status == 201, await response.text()
        return (await response.json())["data"]

    async def data(self, path: str, **kw: Any) -> Any:
        response = await self.client.get(path, **kw)
        assert response.status == 200, await response.text()
        return (await response.json())["data"]


async def curation_client(aiohttp_client, store, **env: str) -> CurationClient:
    settings = make_settings(
        BOOTSTRAP_ADMIN_EMAIL=ADMIN, BOOTSTRAP_ADMIN_PASSWORD=PASSWORD, **env
    )
    client = await aiohttp_client(create_app(settings, store=store))
    login = await client.post("/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert login.status == 200
    return CurationClient(client, (await login.json())["data"]["accessToken"])


@pytest.fixture
async def api(aiohttp_client, store) -> CurationClient:
    return await curation_client(aiohttp_client, store)
