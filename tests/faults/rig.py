"""The real parts the fault matrix shares: FerretDB enforcing SCRAM authentication, and a Sentry
ingest endpoint running in a thread of the test process."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import web
from pymongo import MongoClient

from tests.conftest import free_port
from tests.helpers import stop_process
from tests.telemetry.receivers import SentryReceiver

BUILD = Path(__file__).resolve().parent / "build_ferretdb.sh"
# Test-only credentials: the operator's (user management, checks) and the service's.
OPS_USER, OPS_PASSWORD = "ops", "ops-password-for-tests"
SERVICE_USER, SERVICE_PASSWORD = "catalog", "catalog-password-for-tests"


class Unavailable(Exception):
    """FerretDB with authentication cannot be had here; the message says why."""


def build_ferretdb() -> str:
    if shutil.which("go") is None:
        raise Unavailable("FerretDB's command is not built: install Go "
                          "(tests/faults/build_ferretdb.sh)")
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        raise Unavailable(f"tests/faults/build_ferretdb.sh failed: {built.stderr[-500:]}")
    return built.stdout.strip()


class AuthFerretDB:
    """FerretDB v1.24.2, SQLite backend, new authentication on: every command but the handshake
    needs a SCRAM login. The operator user is set up at start; the service user is created."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="ferretdb-auth-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def uri(self, user: str = OPS_USER, password: str = OPS_PASSWORD) -> str:
        return f"mongodb://{user}:{password}@{self.address}/?authSource=admin"

    def start(self, timeout: float = 20.0) -> AuthFerretDB:
        with open(os.path.join(self.data, "server.log"), "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--handler=sqlite", f"--sqlite-url=file:{self.data}/",
                 f"--listen-addr={self.address}", f"--state-dir={self.data}",
                 "--debug-addr=-", "--telemetry=disable", "--log-level=warn",
                 "--test-enable-new-auth", "--setup-database=admin",
                 f"--setup-username={OPS_USER}", f"--setup-password={OPS_PASSWORD}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"FerretDB exited with {self.proc.returncode}: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise Unavailable("FerretDB did not start listening")
        with self.client() as client:
            client.admin.command("createUser", SERVICE_USER, pwd=SERVICE_PASSWORD, roles=[])
        return self

    def client(self) -> MongoClient:
        """The operator's direct connection (not through the proxy)."""
        return MongoClient(self.uri(), serverSelectionTimeoutMS=5000, timeoutMS=5000)

    def set_service_password(self, password: str) -> None:
        with self.client() as client:
            client.admin.command("updateUser", SERVICE_USER, pwd=password)

    def log(self) -> str:
        path = os.path.join(self.data, "server.log")
        return Path(path).read_text(errors="replace")[-3000:] if os.path.exists(path) else ""

    def close(self) -> None:
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.data, ignore_errors=True)


class SentryThread:
    """tests/telemetry's Sentry receiver, served from a thread so it outlives single tests."""

    def __init__(self) -> None:
        self.receiver = SentryReceiver()
        self.port = free_port()
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    @property
    def events(self) -> int:
        return len(self.receiver.events)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.AppRunner(self.receiver.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def start(self) -> SentryThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Sentry receiver did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
