"""A real Prometheus (Debian's package) on loopback, with a config derived from prometheus.yml:
the same rules, 1 s scrape and evaluation, the given targets. The demo (demo/) passes its own
rule files, interval and Alertmanager."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import free_port
from tests.helpers import stop_process
from tests.service import REPO


class Prometheus:
    def __init__(self, targets: list[str], *, rule_files: list[str] | None = None,
                 interval: str = "1s", alertmanager: str | None = None,
                 flags: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="prometheus-"))
        config = yaml.safe_load((REPO / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
        config["rule_files"] = rule_files or [str(REPO / "alerts" / "*.yml")]
        if alertmanager is None:  # alert states are read from the API
            config.pop("alerting", None)
        else:
            config["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": [alertmanager]}]}]}
        config["scrape_configs"][0]["static_configs"] = [{"targets": targets}]
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.flags = flags
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        with open(self.dir / "log", "wb") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--enable-feature=exemplar-storage", *self.flags],
                stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/-/ready", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Prometheus did not become ready:\n" + self.log())

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def log(self) -> str:
        path = self.dir / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
