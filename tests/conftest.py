from __future__ import annotations

import io
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from app.config import Settings, load_settings
from app.telemetry import flush_logs, setup_logging

TEST_ENV = {
    "APP_ENV": "test",
    "JWT_ACCESS_SECRET": "t" * 8 + "Qz3vN8pL2mK7rW4sX9yB1cD6fG0hJ5a",
    "JWT_REFRESH_SECRET": "r" * 8 + "Hq2wE7rT4yU9iO1pA6sD3fG8hJ0kL5z",
    # Generous limits for the suite; the rate-limit tests set their own.
    "RATE_LIMIT_ANON_PER_MINUTE": "100000",
    "RATE_LIMIT_USER_PER_MINUTE": "100000",
    "RATE_LIMIT_AUTH_PER_MINUTE": "100000",
}


def make_settings(**overrides: str) -> Settings:
    """Test settings for this service: read with what its features need (app.features)."""
    from app.composition import service_features

    return load_settings({**TEST_ENV, **overrides}, needs=service_features().settings_needs)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


class LogCapture:
    """Every JSON line the service logged during a test, parsed."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        flush_logs()
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.text.splitlines() if line]

    def find(self, msg: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["msg"] == msg]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """The service's real logging setup at debug level, writing into a buffer."""
    from app.telemetry import logging as app_logging

    capture = LogCapture()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_writer = app_logging._writer
    setup_logging("debug", stream=capture.stream)
    try:
        yield capture
    finally:
        flush_logs()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        app_logging._writer = saved_writer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The store the tests run on. "memory" always; "mongo" on a wire-protocol server (see
# tests/mongo_server.py), skipped with the reason when none can be had, unless CI requires it.
_server_state: dict[str, Any] = {}


def require_or_skip(reason: str) -> None:
    """Skip a test that needs something this machine lacks; in CI (REQUIRE_REAL_SERVERS=1)
    fail instead, so a missing install never turns into a green run."""
    if os.environ.get("REQUIRE_REAL_SERVERS") == "1":
        pytest.fail(f"required here but unavailable: {reason}")
    pytest.skip(reason)


def _mongo_server() -> Any:
    from tests.mongo_server import Unavailable, start_server

    if "server" not in _server_state and "error" not in _server_state:
        try:
            _server_state["server"] = start_server()
        except Unavailable as exc:
            _server_state["error"] = str(exc)
    if "error" in _server_state:
        require_or_skip(_server_state["error"])
    return _server_state["server"]


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[Any]:
    server = _mongo_server()
    _server_state["used"] = f"{server.description}, {server.uri}"
    yield server
    server.close()


@pytest.fixture
def mongo_settings(mongo_server) -> Settings:
    """Settings for a fresh, uniquely named database on the test server."""
    return make_settings(
        MONGO_URI=mongo_server.uri,
        MONGO_DB=f"test_{uuid.uuid4().hex[:12]}",
        MONGO_TIMEOUT_MS="2000",
    )


@pytest.fixture(params=["memory", "mongo"])
async def store(request) -> AsyncIterator[Any]:
    """The service's database adapter (its features' `open_database`: the example domain's
    store here) on each backend in turn, empty, connected; the same tests run on both."""
    from app.composition import service_features

    open_database = service_features().open_database
    if request.param == "memory":
        yield open_database(make_settings())
        return
    settings = request.getfixturevalue("mongo_settings")
    adapter = open_database(settings)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter._client.drop_database(settings.mongo_db)
        await adapter.close()


def pytest_terminal_summary(terminalreporter) -> None:
    if "used" in _server_state:
        terminalreporter.write_line(f"Mongo store tests ran on {_server_state['used']}")
    elif "error" in _server_state:
        terminalreporter.write_line(f"Mongo store tests skipped: {_server_state['error']}")
