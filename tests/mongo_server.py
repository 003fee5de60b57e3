"""The MongoDB wire-protocol server the store tests run against: `MONGO_TEST_URI` when set (a real
MongoDB), otherwise FerretDB v1 (SQLite backend) built from tests/ferretdb and run on loopback.

The FerretDB process can be killed and restarted on the same port and data, for outage tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port

BUILD = Path(__file__).resolve().parent / "ferretdb" / "build.sh"


class Unavailable(Exception):
    """No server can be had here; the message says why."""


class FerretDB:
    description = "FerretDB v1.24.2 (SQLite backend)"

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="ferretdb-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 20.0) -> None:
        with open(os.path.join(self.data, "server.log"), "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-listen", f"127.0.0.1:{self.port}", "-data", self.data],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"FerretDB exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise Unavailable("FerretDB did not start listening")

    def kill(self) -> None:
        """Stop the server abruptly, as an outage would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        """What the server wrote to stderr (warnings and errors), for failing tests."""
        path = os.path.join(self.data, "server.log")
        return Path(path).read_text(errors="replace") if os.path.exists(path) else ""

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.data, ignore_errors=True)


class ExternalMongo:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.description = f"MongoDB at MONGO_TEST_URI ({uri.split('@')[-1]})"

    def close(self) -> None:
        return None


def start_server() -> FerretDB | ExternalMongo:
    uri = os.environ.get("MONGO_TEST_URI")
    if uri:
        return ExternalMongo(uri)
    if shutil.which("go") is None and not os.environ.get("FERRETDB_BIN"):
        raise Unavailable("no MongoDB server: set MONGO_TEST_URI, or install Go to build FerretDB")
    binary = os.environ.get("FERRETDB_BIN") or subprocess.run(
        [str(BUILD)], check=True, capture_output=True, text=True
    ).stdout.strip()
    server = FerretDB(binary)
    server.start()
    return server
