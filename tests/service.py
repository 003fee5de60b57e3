"""Run the real service as a subprocess (`python -m app`), for lifecycle and end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import TEST_ENV, free_port

REPO = Path(__file__).resolve().parent.parent


class ServiceProcess:
    def __init__(self, **env: str) -> None:
        self.port = int(env.get("PORT") or free_port())
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            **TEST_ENV,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            **env,
        }
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix="service-", suffix=".log", delete=False
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._final_output: str | None = None
        self.argv = [sys.executable, "-m", "app"]  # what `start` runs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_for: str = "/health", timeout: float = 20.0) -> ServiceProcess:
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.output()}")
            try:
                urllib.request.urlopen(self.url + wait_for, timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"service did not answer {wait_for} in {timeout}s:\n{self.output()}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def output(self) -> str:
        if self._final_output is not None:
            return self._final_output
        return Path(self._log.name).read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.output().splitlines() if line.strip()]

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._final_output = self.output()
        self._log.close()
        os.unlink(self._log.name)
