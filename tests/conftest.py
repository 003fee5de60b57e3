from __future__ import annotations

import io
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from app.config import Settings, load_settings
from app.telemetry.logging import JsonFormatter

TEST_ENV = {
    "APP_ENV": "test",
    "JWT_ACCESS_SECRET": "t" * 8 + "Qz3vN8pL2mK7rW4sX9yB1cD6fG0hJ5a",
    "JWT_REFRESH_SECRET": "r" * 8 + "Hq2wE7rT4yU9iO1pA6sD3fG8hJ0kL5z",
}


def make_settings(**overrides: str) -> Settings:
    return load_settings({**TEST_ENV, **overrides})


@pytest.fixture
def settings() -> Settings:
    return make_settings()


class LogCapture:
    """Every JSON line the service logged during a test, parsed."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.text.splitlines() if line]

    def find(self, msg: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["msg"] == msg]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> Callable[[], int]:
    return free_port
