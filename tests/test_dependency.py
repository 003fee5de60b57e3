"""The dependency state and the background work that keeps it true: one `dependency.down` and one
`dependency.up` line per outage, a gauge that follows, and loops that survive anything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from app.dependency import DependencyState
from app.store.memory_database import MemoryDatabase
from app.web.app import create_app
from tests.conftest import make_settings
from tests.helpers import core_features


async def eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def gauge(client) -> float:
    text = await (await client.get("/metrics")).text()
    line = next(line for line in text.splitlines()
                if line.startswith('app_dependency_up{dependency="mongo"}'))
    return float(line.rsplit(" ", 1)[1])


async def test_one_line_per_change_of_state(logs):
    now = [100.0]
    values: list[float] = []
    state = DependencyState("mongo", values.append, clock=lambda: now[0])
    state.mark_up()  # the first answer is not news
    for reason in ("unreachable", "unreachable", "timeout"):
        state.mark_down(reason)
    now[0] += 12.5
    state.mark_up()
    state.mark_up()
    assert values == [1.0, 0.0, 1.0]
    downs, ups = logs.find("dependency.down"), logs.find("dependency.up")
    assert [(d["level"], d["dependency"], d["reason"]) for d in downs] == [
        ("error", "mongo", "unreachable")]
    assert [(u["level"], u["outageSeconds"], u["reason"]) for u in ups] == [
        ("info", 12.5, "unreachable")]


async def test_a_request_failure_asks_the_pinger_and_never_decides_alone(logs):
    state = DependencyState("mongo", lambda value: None)
    state.mark_up()
    for reason in ("timeout", "unreachable"):  # a slow query; a connection gone stale
        state.operation_failed(reason)
        assert state.up is True
        started = time.monotonic()
        await state.wait_for_next_check(30)  # the request cut the wait short
        assert time.monotonic() - started < 2
    assert logs.find("dependency.down") == []


def test_a_reason_that_says_more_is_told_once_per_outage(logs):
    state = DependencyState("mongo", lambda value: None)
    state.mark_up()
    for reason in ("unreachable", "timeout", "authentication", "unreachable", "authentication"):
        state.mark_down(reason, f"db:27017: {reason}")
    state.mark_up()
    state.mark_down("authentication")
    downs = [(d["reason"], d["detail"], d.get("previousReason"))
             for d in logs.find("dependency.down")]
    assert downs == [("unreachable", "db:27017: unreachable", None),
                     ("authentication", "db:27017: authentication", "unreachable"),
                     ("authentication", None, None)]
    (up,) = logs.find("dependency.up")
    assert up["reason"] == "authentication"


class FlakyDatabase(MemoryDatabase):
    """The memory database with a switch that makes chosen calls raise an arbitrary exception."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[str] = set()
        self.calls: dict[str, int] = {}

    def _maybe_fail(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.broken:
            raise RuntimeError(f"{name} blew up")

    async def ping(self, timeout: float) -> None:
        self._maybe_fail("ping")



async def test_the_ping_loop_survives_anything_and_the_gauge_tells_the_truth(aiohttp_client,
                                                                             logs):
    store = FlakyDatabase()
    client = await aiohttp_client(create_app(
        make_settings(DEPENDENCY_PING_SECONDS="0.1"), store=store, features=core_features()))
    await eventually(lambda: store.calls.get("ping", 0) >= 1)
    assert await gauge(client) == 1

    store.broken.add("ping")
    pings = store.calls["ping"]
    await eventually(lambda: store.calls["ping"] >= pings + 5)  # several failures, still pinging
    assert await gauge(client) == 0

    store.broken.clear()
    pings = store.calls["ping"]
    await eventually(lambda: store.calls["ping"] > pings)
    assert await gauge(client) == 1
    downs, ups = logs.find("dependency.down"), logs.find("dependency.up")
    assert [(d["reason"], d["detail"]) for d in downs] == [(
        "unexpected", "the check raised RuntimeError (its traceback: dependency.check_failed)")]
    assert len(ups) == 1
    assert len(logs.find("dependency.check_failed")) == 1  # the traceback, once


# What the operator reads: `reason` (a fixed word) and `detail` (the server tried and what it
# did), the same at start (store.prepare_pending, then the first dependency.down) and while
# running, built from the driver's state and never from a message that could hold the URI.

def _server(host: str, port: int, error: Exception | None, hello: dict | None = None):
    from pymongo.hello import Hello
    from pymongo.server_description import ServerDescription

    return ServerDescription((host, port), Hello(hello) if hello else None, error=error)


def test_the_detail_names_the_server_and_what_it_did():
    from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure, ProtocolError

    from app.store.mongo_errors import failure_detail

    def detail(*servers, reason="unreachable", exc=None, user=None):
        return failure_detail(reason, exc, servers, user)

    suffix = " (configured timeouts: socketTimeoutMS: 500.0ms, connectTimeoutMS: 500.0ms)"
    assert detail(_server("127.0.0.1", 1, AutoReconnect(
        "127.0.0.1:1: [Errno 111] Connect call failed ('127.0.0.1', 1)" + suffix))) == (
        "127.0.0.1:1: connection refused")
    assert detail(_server("db.invalid", 27017, AutoReconnect(
        "db.invalid:27017: [Errno -2] Name or service not known" + suffix))) == (
        "db.invalid:27017: the name does not resolve")
    assert detail(_server("::1", 27017, NetworkTimeout("[::1]:27017: timed out" + suffix))) == (
        "[::1]:27017: no answer within the timeout")
    assert detail(_server("10.0.0.9", 27017, ProtocolError("Message length is larger"))) == (
        "10.0.0.9:27017: answered something that is not MongoDB")
    assert detail(_server("db", 27017, OperationFailure("Authentication failed.", 18)),
                  reason="authentication", user="catalog") == (
        'db:27017 refused the credentials of user "catalog"')
    secondaries = [_server(f"rs{n}", 27017, None, {"ok": 1, "secondary": True, "setName": "rs",
                                                   "maxWireVersion": 21}) for n in range(5)]
    assert detail(*secondaries, reason="not_primary") == (
        "rs0:27017: RSSecondary; rs1:27017: RSSecondary; rs2:27017: RSSecondary (and 2 more)")
    assert detail() == "no server known yet"


def test_the_detail_never_carries_the_uri_or_its_password():
    from pymongo.errors import AutoReconnect, ConfigurationError

    from app.store.mongo_errors import failure_detail

    uri = "mongodb+srv://catalog:pw-canary-31x@cluster.example.org/app"
    text = failure_detail("configuration", ConfigurationError(f"could not parse {uri}"), [],
                          "catalog")
    assert "pw-canary-31x" not in text and "catalog:" not in text
    server = _server("db", 27017, AutoReconnect(f"db:27017: weird failure in {uri}"))
    assert failure_detail("unreachable", None, [server], None) == (
        "db:27017: the connection failed")


async def test_an_unreachable_database_at_start_says_why_and_shows_in_the_metrics(
        aiohttp_client, logs):
    from tests.conftest import free_port

    port = free_port()  # nothing listens there
    settings = make_settings(MONGO_URI=f"mongodb://catalog:pw-canary-9Kd@127.0.0.1:{port}/",
                             MONGO_TIMEOUT_MS="200", DEPENDENCY_PING_SECONDS="0.1")
    client = await aiohttp_client(create_app(settings, features=core_features()))
    await eventually(lambda: logs.find("dependency.down"))
    expected = ("unreachable", f"127.0.0.1:{port}: connection refused")
    (start,) = [line for line in logs.lines()
                if line["msg"].startswith("store.prepare_pending")]
    (down,) = logs.find("dependency.down")
    assert (start["level"], start["dependency"], start["reason"], start["detail"]) == (
        "warn", "mongo", *expected)
    assert (down["level"], down["dependency"], down["reason"], down["detail"]) == (
        "error", "mongo", *expected)
    assert await gauge(client) == 0
    # The background ping's failures are the database panel's outage, traffic or not.
    text = await (await client.get("/metrics")).text()
    pings = [line for line in text.splitlines() if line.startswith(
        'mongo_command_duration_seconds_count{command="ping",outcome="error"}')]
    assert pings and float(pings[0].rsplit(" ", 1)[1]) >= 1
    assert "pw-canary-9Kd" not in logs.text


async def test_a_database_lost_while_running_says_why(aiohttp_client, logs, mongo_server):
    import pytest

    from tests.mongo_server import FerretDB

    if not isinstance(mongo_server, FerretDB):
        pytest.skip("kills its database: needs FerretDB, not MONGO_TEST_URI")
    server = FerretDB(mongo_server.binary)
    server.start()
    try:
        settings = make_settings(MONGO_URI=server.uri, MONGO_TIMEOUT_MS="300",
                                 DEPENDENCY_PING_SECONDS="0.1")
        client = await aiohttp_client(create_app(settings, features=core_features()))
        for _ in range(100):  # up once the first ping answered
            if await gauge(client) == 1:
                break
            await asyncio.sleep(0.05)
        assert await gauge(client) == 1
        server.kill()
        await eventually(lambda: logs.find("dependency.down"))
        (down,) = logs.find("dependency.down")
        # The pooled connection's end, or the refusal of a new one if the driver's monitor
        # saw it first.
        assert down["reason"] == "unreachable"
        assert down["detail"] in (f"127.0.0.1:{server.port}: the connection was closed",
                                  f"127.0.0.1:{server.port}: connection refused")
        assert not [line for line in logs.lines()
                    if line["msg"].startswith("store.prepare_pending")]
    finally:
        server.close()
