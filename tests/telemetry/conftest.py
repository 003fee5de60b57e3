from __future__ import annotations

import pytest

from tests.telemetry.receivers import OtlpReceiver, SentryReceiver


@pytest.fixture
async def otlp(aiohttp_server):
    receiver = OtlpReceiver()
    server = await aiohttp_server(receiver.app())
    receiver.endpoint = f"http://127.0.0.1:{server.port}/v1/traces"
    return receiver


@pytest.fixture
async def sentry_receiver(aiohttp_server):
    receiver = SentryReceiver()
    server = await aiohttp_server(receiver.app())
    receiver.dsn = f"http://publickey@127.0.0.1:{server.port}/1"
    return receiver
