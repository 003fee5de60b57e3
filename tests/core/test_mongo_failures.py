"""The MongoDB adapter's boundary: every driver failure is either StoreUnavailable with a short
reason, a Conflict, or a programming error that keeps raising; and the reason never carries the
URI. Preparation (indexes, capabilities) runs once and never holds the start up."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConfigurationError,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidOperation,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ProtocolError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from app.domain.database import StoreUnavailable
from app.domain.errors import Conflict
from app.store import mongo_database
from app.store.mongo_errors import failure_reason
from tests.core.things import Things
from tests.mongo_server import FerretDB

PASSWORD = "pw-canary-7Qx"


def _label(code: int, label: str) -> OperationFailure:
    return OperationFailure("failed", code=code, details={"code": code, "errorLabels": [label]})


@pytest.mark.parametrize(("error", "reason"), [
    (OperationFailure("Authentication failed.", code=18), "authentication"),
    (OperationFailure("not authorized on catalog to execute command", code=13), "authorization"),
    (ServerSelectionTimeoutError("127.0.0.1:27017: connection refused"), "unreachable"),
    (AutoReconnect("connection closed"), "unreachable"),
    (OperationFailure("host unreachable", code=6), "unreachable"),
    (NetworkTimeout("timed out"), "timeout"),
    (ExecutionTimeout("operation exceeded time limit", code=50), "timeout"),
    (NotPrimaryError("not primary"), "not_primary"),
    (OperationFailure("not primary", code=10107), "not_primary"),
    (OperationFailure("primary stepped down", code=189), "not_primary"),
    (WriteConcernError("waiting for replication", code=64), "write_concern"),
    (WTimeoutError("waiting for replication timed out", code=64), "write_concern"),
    (BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}), "write_concern"),
    (_label(112, "TransientTransactionError"), "transient"),
    (_label(9999, "RetryableWriteError"), "transient"),
    (ProtocolError("unexpected message"), "protocol"),
    (ConfigurationError("The DNS query name does not exist"), "configuration"),
])
def test_unavailability_has_a_reason(error: PyMongoError, reason: str) -> None:
    assert failure_reason(error) == reason


@pytest.mark.parametrize("error", [
    OperationFailure("unknown operator: $bogus", code=2),  # BadValue: a bad query
    OperationFailure("FieldPath must not start with '$'", code=16410),
    InvalidOperation("cannot use the client after close"),
    DuplicateKeyError("E11000 duplicate key", code=11000),  # the adapter's Conflict
    PyMongoError("something nobody has seen"),
])
def test_programming_errors_have_no_reason(error: PyMongoError) -> None:
    assert failure_reason(error) is None


class RaisingCollection:
    """Stands in for a pymongo collection at the driver boundary: raises the driver's own
    exception, as the real one does when the server refuses."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    async def insert_one(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.fixture
async def unconnected_store():
    # The client connects lazily: nothing listens here, and nothing is asked of it.
    store = Things(f"mongodb://catalog:{PASSWORD}@127.0.0.1:9/", "t", timeout_ms=500)
    yield store
    await store.close()


async def test_refused_credentials_become_store_unavailable(unconnected_store):
    reasons: list[str] = []
    unconnected_store.on_failure(reasons.append)
    unconnected_store._things = RaisingCollection(
        OperationFailure("Authentication failed.", code=18,
                         details={"ok": 0, "code": 18, "codeName": "AuthenticationFailed"}))
    with pytest.raises(StoreUnavailable) as caught:
        await unconnected_store.get_thing("x")
    assert (caught.value.reason, caught.value.operation) == ("authentication", "things.find")
    assert reasons == ["authentication"]
    assert caught.value.code == "dependency.unavailable"
    assert PASSWORD not in caught.value.message and "mongodb://" not in caught.value.message


async def test_a_bad_query_keeps_raising(unconnected_store):
    reasons: list[str] = []
    unconnected_store.on_failure(reasons.append)
    unconnected_store._things = RaisingCollection(OperationFailure("unknown operator", code=2))
    with pytest.raises(OperationFailure):
        await unconnected_store.get_thing("x")
    assert reasons == []  # a bug is not an outage


async def test_a_duplicate_stays_a_conflict(unconnected_store):
    unconnected_store._things = RaisingCollection(DuplicateKeyError("E11000", code=11000))
    with pytest.raises(Conflict):
        await unconnected_store.get_thing("x")


def _with_credentials(uri: str, user: str, password: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}"))


async def test_a_server_refusing_the_credentials_is_unavailable(mongo_server, logs):
    """The real driver against the real server: FerretDB v1 (embedded, without its optional
    SCRAM users) refuses every SCRAM conversation with code 18 AuthenticationFailed, exactly what
    a MongoDB answers to a wrong password."""
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("a MongoDB with users would accept or refuse as configured; FerretDB refuses")
    store = Things(_with_credentials(mongo_server.uri, "catalog", PASSWORD), "refused",
                       timeout_ms=500)
    reasons: list[str] = []
    store.on_failure(reasons.append)
    try:
        await store.connect()  # does not raise: the start goes on, unready
        for _ in range(3):
            with pytest.raises(StoreUnavailable) as caught:
                await store.ping(0.5)
            assert caught.value.reason == "authentication"
        with pytest.raises(StoreUnavailable) as caught:
            await store.get_thing("x")
        assert caught.value.reason == "authentication"
    finally:
        await store.close()
    assert reasons and set(reasons) == {"authentication"}
    assert PASSWORD not in logs.text


async def test_preparation_runs_once_however_many_ask(mongo_settings, monkeypatch):
    store = Things(mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db,
                       timeout_ms=2000)
    running, runs, overlapped = 0, 0, False
    real = store._prepare

    async def counted() -> None:
        nonlocal running, runs, overlapped
        running, runs = running + 1, runs + 1
        overlapped = overlapped or running > 1
        await asyncio.sleep(0.2)  # long enough for the others to arrive while it runs
        await real()
        running -= 1

    monkeypatch.setattr(store, "_prepare", counted)
    try:
        await asyncio.gather(store.connect(), store.prepare(), store.prepare(), store.prepare())
        await store.prepare()
        assert (runs, overlapped) == (1, False)
        names = {i["name"] async for i in await store._things.list_indexes()}
        assert "name_1" in names
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()


async def test_a_slow_preparation_holds_neither_the_start_nor_the_ping(mongo_settings,
                                                                      monkeypatch):
    monkeypatch.setattr(mongo_database, "PREPARE_START_WAIT", 0.2)
    store = Things(mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db,
                       timeout_ms=1000)
    release = asyncio.Event()
    real = store._prepare

    async def slow() -> None:
        await release.wait()  # an index build that takes its time
        await real()

    monkeypatch.setattr(store, "_prepare", slow)
    try:
        started = time.monotonic()
        await store.connect()
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        await store.ping(1.0)  # answers while the preparation is still running
        assert time.monotonic() - started < 1.0
        assert not store._prepared
        release.set()
        await asyncio.wait_for(store._preparer, 10)
        assert store._prepared
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()
