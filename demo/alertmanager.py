"""Debian's Alertmanager (`prometheus-alertmanager`) on loopback: its own storage, no cluster
gossip, the configuration demo/timescale.py derives from the repository's alertmanager.yml."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from demo.timescale import dump
from tests.conftest import free_port
from tests.helpers import stop_process

BINARY = "prometheus-alertmanager"


class Alertmanager:
    def __init__(self, config: dict[str, Any]) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        self.config_path = self.dir / "alertmanager.yml"
        self.config_path.write_text(dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 20.0) -> Alertmanager:
        with open(self.dir / "log", "wb") as log:
            self.proc = subprocess.Popen(
                [BINARY, f"--config.file={self.config_path}",
                 f"--storage.path={self.dir / 'data'}",
                 f"--web.listen-address={self.address}", "--cluster.listen-address="],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Alertmanager exited with {self.proc.returncode}:\n"
                                   + self.log())
            try:
                urllib.request.urlopen(self.url + "/-/ready", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("Alertmanager did not become ready:\n" + self.log())

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=5) as response:
            return list(json.loads(response.read()))

    def log(self) -> str:
        path = self.dir / "log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
