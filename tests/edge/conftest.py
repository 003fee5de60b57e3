import pytest

from app.web.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def make_client(aiohttp_client):
    async def make(**env: str):
        return await aiohttp_client(create_app(make_settings(**env)))

    return make
