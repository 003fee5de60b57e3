"""The probes tell the truth, each about what it protects, and never answer 500: `/livez` (the
process answers; nothing else), `/health` (the store answers a ping) and `/ready` (not draining,
every required check; the store only with READY_REQUIRES_STORE, else reported beside them)."""

import asyncio
import time

import pytest
from pymongo.errors import InvalidOperation, PyMongoError

from app import lifecycle
from app.store.memory_database import MemoryDatabase
from app.web.app import create_app
from app.web.health import NOT_REQUIRED
from app.web.keys import LIFECYCLE
from tests.conftest import free_port, make_settings
from tests.helpers import core_features
from tests.test_dependency import eventually


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


def dead_mongo(**overrides: str):
    # A Mongo URI nobody listens on: the real driver, a real refused connection.
    return make_settings(MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
                         MONGO_TIMEOUT_MS="300", DEPENDENCY_PING_SECONDS="0.2", **overrides)


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
    assert (await client.get("/livez")).status == 200  # no restart for a pod that is leaving


async def test_a_failing_check_is_503_not_500(client):
    async def broken() -> str | None:
        raise RuntimeError("check blew up")

    client.app[LIFECYCLE].add_check("broken", broken)
    response = await client.get("/ready")
    assert response.status == 503
    assert (await response.json())["data"]["checks"]["broken"] == "check failed: RuntimeError"


async def test_a_check_reported_only_is_shown_but_does_not_decide(client):
    async def failing() -> str | None:
        return "degraded"

    client.app[LIFECYCLE].add_check("extra", failing, required=False)
    response = await client.get("/ready")
    assert response.status == 200
    assert (await response.json())["data"]["checks"]["extra"] == "degraded"
    client.app[LIFECYCLE].add_check("extra", failing)  # registered again, now required
    assert (await client.get("/ready")).status == 503


async def test_livez_answers_while_the_store_is_down(aiohttp_client, logs):
    client = await aiohttp_client(create_app(dead_mongo(), features=core_features()))
    await eventually(lambda: logs.find("dependency.down"))
    assert (await client.get("/health")).status == 503
    response = await client.get("/livez", headers={"X-Request-Id": "probe-1"})
    assert response.status == 200
    assert response.headers["X-Request-Id"] == "probe-1"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body == {"data": {"status": "ok"}, "meta": {"requestId": "probe-1"}}


async def test_livez_is_never_rate_limited(aiohttp_client):
    client = await aiohttp_client(create_app(
        make_settings(RATE_LIMIT_ANON_PER_MINUTE="1"), features=core_features()))
    for _ in range(5):
        response = await client.get("/livez")
        assert response.status == 200
        assert "RateLimit-Limit" not in response.headers
    assert (await client.get("/hello")).status == 200
    assert (await client.get("/hello")).status == 429  # the limit is real


async def test_livez_is_a_documented_probe_outside_every_slo(client):
    document = await (await client.get("/openapi.json")).json()
    livez = document["paths"]["/livez"]["get"]
    assert livez["x-slos"] == [] and livez["tags"] == ["operations"]
    assert set(livez["responses"]) == {"200"}  # no 503, no 429: it depends on nothing


class StoreWhosePingHangs(MemoryDatabase):
    """A database that never answers a ping (a network that drops packets), so the background
    ping never learns anything."""

    async def ping(self, timeout: float) -> None:
        await asyncio.sleep(3600)


async def test_by_default_ready_awaits_nothing_on_the_store(aiohttp_client):
    client = await aiohttp_client(create_app(
        make_settings(), store=StoreWhosePingHangs(), features=core_features()))
    response = await client.get("/ready")
    assert response.status == 200  # a hung check would say "check timed out"
    checks = (await response.json())["data"]["checks"]
    assert checks == {"draining": "ok", "store": f"not checked yet ({NOT_REQUIRED})"}
    assert (await client.get("/livez")).status == 200


async def test_by_default_a_store_outage_is_reported_not_unready(aiohttp_client, logs):
    client = await aiohttp_client(create_app(dead_mongo(), features=core_features()))
    await eventually(lambda: logs.find("dependency.down"))
    for _ in range(3):
        response = await client.get("/ready")
        assert response.status == 200
        body = await response.json()
        assert body["data"]["status"] == "ok"
        assert body["data"]["checks"] == {
            "draining": "ok", "store": f"unavailable: unreachable ({NOT_REQUIRED})"}
    assert (await client.get("/health")).status == 503  # the startup probe still waits for it
    client.app[LIFECYCLE].start_draining()
    assert (await client.get("/ready")).status == 503  # draining still decides


async def test_ready_requires_the_store_when_strict(aiohttp_client, logs):
    client = await aiohttp_client(create_app(
        dead_mongo(READY_REQUIRES_STORE="true"), features=core_features()))
    for path in ("/health", "/ready"):
        for _ in range(3):
            response = await client.get(path)
            assert response.status == 503, path
            body = await response.json()
            assert body["data"]["status"] == "unavailable"
            assert body["data"]["checks"]["store"] == "unavailable: unreachable"
    assert (await client.get("/livez")).status == 200
    # Six failed probes, one line for the operator, with the reason.
    await eventually(lambda: logs.find("dependency.down"))
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
async def test_any_failure_of_the_store_check_is_503_never_500(aiohttp_client, error):
    settings = make_settings(READY_REQUIRES_STORE="true")
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
