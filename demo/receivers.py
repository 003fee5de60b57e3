"""The loopback ends of the signals, served from one thread of the demo: the tests' OTLP trace
receiver and Sentry envelope receiver (tests/telemetry/receivers.py), and a webhook that records
what Alertmanager sends each receiver."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from aiohttp import web

from tests.conftest import free_port
from tests.telemetry.receivers import OtlpReceiver, SentryReceiver


class Webhook:
    """Alertmanager's webhook_configs post here, one path per receiver of alertmanager.yml."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/alertmanager/{receiver}", self._notify)
        return app

    async def _notify(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.notifications.append({"receivedAt": time.time(),
                                   "receiver": request.match_info["receiver"], "body": body})
        return web.Response(status=200)


class Receivers:
    def __init__(self) -> None:
        self.otlp, self.sentry, self.webhook = OtlpReceiver(), SentryReceiver(), Webhook()
        self.ports = {"otlp": free_port(), "sentry": free_port(), "webhook": free_port()}
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="receivers", daemon=True)

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp']}"

    @property
    def sentry_dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.ports['sentry']}/1"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['webhook']}/alertmanager"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(), which waits for readiness
            self._failed = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runners = []
        try:
            for name, app in (("otlp", self.otlp.app()), ("sentry", self.sentry.app()),
                              ("webhook", self.webhook.app())):
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                runners.append(runner)
                await web.TCPSite(runner, "127.0.0.1", self.ports[name]).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            for runner in reversed(runners):
                await runner.cleanup()

    def start(self) -> Receivers:
        self._thread.start()
        if not self._ready.wait(10) or self._failed is not None:
            raise RuntimeError(f"the loopback receivers did not start: {self._failed}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def spans(self) -> list[dict[str, Any]]:
        return list(self.otlp.spans)

    def events(self) -> list[dict[str, Any]]:
        return list(self.sentry.events)

    def notifications(self) -> list[dict[str, Any]]:
        return list(self.webhook.notifications)
