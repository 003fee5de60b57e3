"""`/health` and `/ready` tell the truth, and never answer 500."""

import asyncio
import time

import pytest
from pymongo.errors import InvalidOperation, PyMongoError

from app import lifecycle
from app.store.memory_database import MemoryDatabase
from app.web.app import create_app
from app.web.keys import LIFECYCLE
from tests.conftest import free_port, make_settings
from tests.helpers import core_features


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_health_ok_on_memory_store(client):
    response = await client.get("/health")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert (await response.json())["data"] == {"status": "ok", "checks": {"store": "ok"}}


async def test_ready_ok_lists_checks(client):
    response = await client.get("/ready")
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["status"] == "ok"
    assert data["checks"]["store"] == "ok" and data["checks"]["draining"] == "ok"


async def test_ready_503_while_draining(client):
    client.app[LIFECYCLE].start_draining()
    response = await client.get("/ready")
    assert response.status == 503
    data = (await response.json())["data"]
    assert data["status"] == "unavailable"
    assert data["checks"]["draining"] == "shutting down"
    assert (await client.get("/health")).status == 200  # still alive, just leaving


async def test_a_failing_check_is_503_not_500(client):
    async def broken() -> str | None:
        raise RuntimeError("check blew up")

    client.app[LIFECYCLE].add_check("broken", broken)
    response = await client.get("/ready")
    assert response.status == 503
    assert (await response.json())["data"]["checks"]["broken"] == "check failed: RuntimeError"


@pytest.fixture
async def dead_mongo_client(aiohttp_client):
    # A Mongo URI nobody listens on: the real driver, a real refused connection.
    settings = make_settings(
        MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        MONGO_TIMEOUT_MS="300",
    )
    return await aiohttp_client(create_app(settings))


async def test_health_and_ready_503_when_store_is_down(logs, dead_mongo_client):
    for path in ("/health", "/ready"):
        for _ in range(3):
            response = await dead_mongo_client.get(path)
            assert response.status == 503, path
            body = await response.json()
            assert body["data"]["status"] == "unavailable"
            assert body["data"]["checks"]["store"] == "unavailable: unreachable"
    # Six failed probes, one line for the operator, with the reason.
    downs = logs.find("dependency.down")
    assert [(d["level"], d["dependency"], d["reason"]) for d in downs] == [
        ("error", "mongo", "unreachable")]


class StoreWhosePingRaises(MemoryDatabase):
    """The memory database, but its ping fails the way a bug or an unforeseen driver error would."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def ping(self, timeout: float) -> None:
        raise self.error


class UnforeseenDriverError(PyMongoError):
    """A driver error class the store's boundary does not know (a future pymongo's, say)."""


@pytest.mark.parametrize("error", [
    UnforeseenDriverError("something new"),
    InvalidOperation("cannot use the client after close"),
    RuntimeError("a bug in the check"),
])
async def test_any_failure_of_the_store_check_is_503_never_500(aiohttp_client, settings, error):
    client = await aiohttp_client(create_app(
        settings, store=StoreWhosePingRaises(error), features=core_features()))
    for path in ("/health", "/ready"):
        response = await client.get(path)
        assert response.status == 503, path
        checks = (await response.json())["data"]["checks"]
        assert checks["store"] == f"check failed: {type(error).__name__}", path


async def test_a_check_that_hangs_is_503_not_a_hung_probe(client, monkeypatch):
    monkeypatch.setattr(lifecycle, "CHECK_TIMEOUT", 0.2)

    async def hangs() -> str | None:
        await asyncio.sleep(30)
        return None

    client.app[LIFECYCLE].add_check("hangs", hangs)
    started = time.monotonic()
    response = await client.get("/ready")
    assert response.status == 503
    assert (await response.json())["data"]["checks"]["hangs"] == "check timed out"
    assert time.monotonic() - started < 2.0
