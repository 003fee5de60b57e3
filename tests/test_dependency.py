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
        state.mark_down(reason)
    state.mark_up()
    state.mark_down("authentication")
    downs = [(d["reason"], d.get("previousReason")) for d in logs.find("dependency.down")]
    assert downs == [("unreachable", None), ("authentication", "unreachable"),
                     ("authentication", None)]
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
    assert [(d["reason"], d["error"]) for d in downs] == [("unexpected", "RuntimeError")]
    assert len(ups) == 1
    assert len(logs.find("dependency.check_failed")) == 1  # the traceback, once
