"""Toxiproxy (built by tests/toxiproxy/build.sh) on loopback, driven through its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.helpers import stop_process

BUILD = Path(__file__).resolve().parent.parent / "toxiproxy" / "build.sh"


class Unavailable(Exception):
    """No Toxiproxy can be had here; the message says why."""


def find_binary() -> str:
    """TOXIPROXY_BIN (set by `make test`), else a build when Go is installed."""
    binary = os.environ.get("TOXIPROXY_BIN")
    if binary:
        return binary
    if shutil.which("go") is None:
        raise Unavailable("Toxiproxy is not built: install Go (tests/toxiproxy/build.sh)")
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        raise Unavailable(f"tests/toxiproxy/build.sh failed: {built.stderr[-500:]}")
    return built.stdout.strip()


class Toxiproxy:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="toxiproxy-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Toxiproxy:
        with open(self.dir / "log", "wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-host", "127.0.0.1", "-port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"Toxiproxy exited with {self.proc.returncode}: {self.log()}")
            try:
                self.api("GET", "/version")
                return self
            except OSError:
                time.sleep(0.05)
        raise Unavailable("Toxiproxy did not start listening")

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read()
        return json.loads(text) if text.strip().startswith((b"{", b"[")) else text

    def create(self, name: str, upstream: str) -> int:
        """A proxy on a free loopback port to `upstream`; returns the port."""
        port = free_port()
        self.api("POST", "/proxies", {"name": name, "listen": f"127.0.0.1:{port}",
                                      "upstream": upstream, "enabled": True})
        return port

    def enable(self, name: str, enabled: bool) -> None:
        """Disabled: the listener closes and every open connection is dropped."""
        self.api("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(self, proxy: str, toxic: str, stream: str, **attributes: int) -> str:
        name = f"{toxic}_{stream}"
        self.api("POST", f"/proxies/{proxy}/toxics", {
            "name": name, "type": toxic, "stream": stream, "toxicity": 1.0,
            "attributes": attributes,
        })
        return name

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self.api("POST", "/reset")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/proxies/{proxy}/toxics"))

    def log(self) -> str:
        path = self.dir / "log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)

