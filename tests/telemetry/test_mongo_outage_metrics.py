"""A database that cannot serve shows in `mongo_command_duration_seconds{outcome="error"}`.

Command monitoring sees only commands sent to a server; an operation that fails before that (no
server selected, the connection refused) is recorded by the store's call boundary instead: once,
under the command the operation sends first, with the time it waited. A failure a server reported
(a command monitoring saw fail) is never counted a second time, and a healthy run adds no error
sample. The background ping counts too, so the database dashboard shows an outage however little
traffic there is."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from app.domain.database import StoreUnavailable
from app.store.mongo_database import MongoDatabase
from app.telemetry.metrics import Metrics
from app.telemetry.mongo import CommandTelemetry
from tests.conftest import free_port
from tests.mongo_server import FerretDB


class Items(MongoDatabase):
    """A collection of the service's own on the core's adapter, with the telemetry's listener."""

    def __init__(self, uri: str, metrics: Metrics, *, timeout_ms: int) -> None:
        super().__init__(uri, "outage", timeout_ms=timeout_ms,
                         listeners=[CommandTelemetry(metrics, None)])
        self._items = self._db["items"]

    async def find(self, key: str) -> Any:
        return await self._run("items.find", lambda: self._items.find_one({"_id": key}))

    async def insert(self, key: str) -> None:
        await self._run("items.insert", lambda: self._items.insert_one({"_id": key}))


def errors(metrics: Metrics) -> dict[str, tuple[float, float]]:
    """command -> (count, sum) of the error samples."""
    found: dict[str, list[float]] = {}
    for family in metrics.registry.collect():
        if family.name != "mongo_command_duration_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("outcome") != "error" or sample.name.endswith("_created"):
                continue
            entry = found.setdefault(sample.labels["command"], [0.0, 0.0])
            if sample.name.endswith("_count"):
                entry[0] = sample.value
            elif sample.name.endswith("_sum"):
                entry[1] = sample.value
    return {command: (count, total) for command, (count, total) in found.items() if count}


async def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_operations_that_reach_no_server_are_recorded_once_under_their_command():
    metrics = Metrics(version="t", commit="t")
    # Nothing listens there: the connection is refused, no server is ever selected.
    database = Items(f"mongodb://127.0.0.1:{free_port()}/", metrics, timeout_ms=200)
    try:
        for call in (database.find("a"), database.find("b"), database.insert("c"),
                     database.ping(0.2)):
            with pytest.raises(StoreUnavailable) as caught:
                await call
            assert caught.value.reason == "unreachable"
        # The boundary records an operation when the driver gives up on it, which may be
        # just after its caller stopped waiting.
        await eventually(lambda: sum(count for count, _ in errors(metrics).values()) >= 4)
        await asyncio.sleep(0.3)  # nothing more arrives
        found = errors(metrics)
        assert {command: count for command, (count, _) in found.items()} == {
            "find": 2, "insert": 1, "ping": 1}
        # Each waited for a server for its whole timeout: that is what the sum says.
        assert found["find"][1] >= 2 * 0.2 * 0.9 and found["ping"][1] >= 0.2 * 0.9
    finally:
        await database.close()


async def test_a_failure_a_server_reported_is_not_counted_twice(mongo_server):
    # FerretDB refuses every SCRAM conversation (code 18): the handshake's saslStart fails at
    # the server, monitoring records it, and the operation adds no sample of its own.
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("needs a server that refuses these credentials: FerretDB")
    metrics = Metrics(version="t", commit="t")
    uri = mongo_server.uri.replace("mongodb://", "mongodb://catalog:wrong-pw-Lq2@")
    database = Items(uri, metrics, timeout_ms=500)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await database.find("a")
        assert caught.value.reason == "authentication"
        await database._calls.drain()
        assert {command: count for command, (count, _) in errors(metrics).items()} == {
            "saslStart": 1}
    finally:
        await database.close()


async def test_a_healthy_run_adds_no_error_sample_and_a_killed_server_does(mongo_server):
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("kills its database: needs FerretDB, not MONGO_TEST_URI")
    server = FerretDB(mongo_server.binary)
    server.start()
    metrics = Metrics(version="t", commit="t")
    database = Items(server.uri, metrics, timeout_ms=300)
    try:
        await database.connect()  # prepared: FerretDB refuses a TTL index, a command error
        before = errors(metrics)
        for key in ("a", "b", "c"):
            await database.insert(key)
            assert await database.find(key) == {"_id": key}
        await database.ping(1.0)
        assert errors(metrics) == before

        server.kill()
        for key in ("a", "b"):
            with pytest.raises(StoreUnavailable):
                await database.find(key)
        await database._calls.drain()
        after = errors(metrics)
        # A pooled connection the kill closed may fail its command at the server (monitoring
        # counts that one); either way each failed find is one error sample, not two.
        grown = {command: count - before.get(command, (0.0, 0.0))[0]
                 for command, (count, _) in after.items()}
        assert {command: n for command, n in grown.items() if n} == {"find": 2}
        assert after["find"][1] > 0
    finally:
        await database.close()
        server.close()


@pytest.mark.timeout(120)
def test_the_database_dashboard_shows_an_outage(mongo_server):
    # The real service on its own FerretDB, scraped by a real Prometheus: the dashboard's
    # failed-commands panel is empty of pings while the database answers, and shows them once
    # it is gone (no traffic needed: the background ping fails every period).
    import json
    import shutil

    from tests.conftest import require_or_skip
    from tests.helpers import wait_until
    from tests.prometheus_server import Prometheus
    from tests.service import REPO, ServiceProcess

    if shutil.which("prometheus") is None:
        require_or_skip("Prometheus is not installed (apt-get install prometheus)")
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("kills its database: needs FerretDB, not MONGO_TEST_URI")
    board = json.loads((REPO / "dashboards" / "mongodb.json").read_text())
    (panel,) = [p for p in board["panels"] if p["title"] == "Failed commands by command"]
    (target,) = panel["targets"]
    expr = target["expr"].replace("$__rate_interval", "10s")

    server = FerretDB(mongo_server.binary)
    server.start()
    service = ServiceProcess(MONGO_URI=server.uri, MONGO_DB="panel", MONGO_TIMEOUT_MS="300",
                             DEPENDENCY_PING_SECONDS="0.5")
    prometheus = Prometheus([f"127.0.0.1:{service.port}"])
    try:
        service.start()
        prometheus.start()
        wait_until(lambda: prometheus.query('app_dependency_up{dependency="mongo"} == 1'), 20,
                   "the healthy service to be scraped")
        assert not [s for s in prometheus.query(expr) if s["metric"]["command"] == "ping"]

        server.kill()
        pings = wait_until(lambda: [s for s in prometheus.query(expr)
                                    if s["metric"]["command"] == "ping"
                                    and float(s["value"][1]) > 0], 30, "the panel to show it")
        assert pings
    except BaseException:
        print(prometheus.log()[-3000:])
        raise
    finally:
        prometheus.stop()
        service.stop()
        server.close()


def samples(metrics: Metrics) -> dict[tuple[str, str], float]:
    """(command, outcome) -> how many samples mongo_command_duration_seconds holds."""
    return {(s.labels["command"], s.labels["outcome"]): s.value
            for family in metrics.registry.collect()
            if family.name == "mongo_command_duration_seconds"
            for s in family.samples if s.name.endswith("_count") and s.value}


@pytest.mark.parametrize(("case", "expected"), [
    # The server applied the insert and answered ok with a writeConcernError: pymongo publishes
    # CommandSucceededEvent (one ok sample), then raises WriteConcernError.
    ("write concern", {("insert", "ok"): 1}),
    # The server answered ok:0: CommandFailedEvent (one error sample), then the raise.
    ("failed at the server", {("insert", "error"): 1}),
    # A first command answered, the next one never sent (the server went away in between):
    # monitoring saw no failure, the boundary records it.
    ("next one never sent", {("insert", "ok"): 1, ("insert", "error"): 1}),
])
async def test_a_failure_is_counted_once_whatever_monitoring_saw_of_it(case, expected):
    # FerretDB cannot answer with a write-concern error, so this drives the recording path as
    # pymongo does: the client's listeners get the events in the operation's own task, then
    # the operation raises what the driver would.
    from datetime import timedelta

    from pymongo import monitoring
    from pymongo.errors import AutoReconnect, NotPrimaryError, WriteConcernError

    metrics = Metrics(version="t", commit="t")
    database = Items(f"mongodb://127.0.0.1:{free_port()}/", metrics, timeout_ms=200)
    listeners = database._client.options.event_listeners
    command = {"insert": "items", "documents": [{"_id": "a"}], "$db": "outage"}
    address = ("127.0.0.1", 27017)

    async def work() -> None:
        for listener in listeners:
            listener.started(monitoring.CommandStartedEvent(command, "outage", 1, address, 1))
        if case == "failed at the server":
            failure = {"ok": 0, "code": 10107, "codeName": "NotWritablePrimary",
                       "errmsg": "not primary"}
            for listener in listeners:
                listener.failed(monitoring.CommandFailedEvent(
                    timedelta(milliseconds=3), failure, "insert", 1, address, 1))
            raise NotPrimaryError("not primary", failure)
        concern = {"code": 64, "codeName": "WriteConcernFailed",
                   "errmsg": "waiting for replication timed out"}
        reply = {"ok": 1, "n": 1}
        if case == "write concern":
            reply["writeConcernError"] = concern
        for listener in listeners:
            listener.succeeded(monitoring.CommandSucceededEvent(
                timedelta(milliseconds=3), reply, "insert", 1, address, 1))
        if case == "write concern":
            raise WriteConcernError(concern["errmsg"], 64, concern)
        raise AutoReconnect("connection closed")

    try:
        with pytest.raises(StoreUnavailable):
            await database._run("items.insert", work)
        await database._calls.drain()
        assert samples(metrics) == expected
    finally:
        await database.close()
