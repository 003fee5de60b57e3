from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.web.app import create_app
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"


@dataclass
class Session:
    email: str
    password: str
    access: str
    refresh: str


class AuthClient:
    """The aiohttp test client plus the auth calls the tests repeat."""

    def __init__(self, client) -> None:
        self.client = client
        self._n = 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    async def register(self, email: str | None = None, password: str = PASSWORD) -> Session:
        self._n += 1
        email = email or f"user{self._n}@example.org"
        response = await self.client.post(
            "/auth/register", json={"email": email, "password": password}
        )
        assert response.status == 201, await response.text()
        data = (await response.json())["data"]
        return Session(email, password, data["accessToken"], data["refreshToken"])

    async def refresh(self, token: str):
        return await self.client.post("/auth/refresh", json={"refreshToken": token})

    async def me(self, access: str):
        return await self.client.get("/me", headers={"Authorization": f"Bearer {access}"})


@pytest.fixture
def auth_settings():
    return make_settings(AUTH_ALLOW_SELF_REGISTRATION="true")


@pytest.fixture
async def api(aiohttp_client, auth_settings, store) -> AuthClient:
    """The auth API on each store adapter in turn."""
    return AuthClient(await aiohttp_client(create_app(auth_settings, store=store)))
