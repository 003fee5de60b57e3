"""Small helpers the process-level tests share: a JSON HTTP call, a bounded wait, and stopping a
child process."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request


def call(url: str, method: str = "GET", body: dict | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; reaped either way."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def core_features():
    """The core-only features (`app.features_core`: one example route, `GET /hello`), for tests of
    the core that must not depend on the example domain. A generated project may not have that
    module: without the example its text is `app.features`; with it, the same wiring is built
    here from the core's parts."""
    import importlib
    from types import SimpleNamespace

    try:
        return importlib.import_module("app.features_core")
    except ModuleNotFoundError as exc:
        if exc.name != "app.features_core":
            raise
    features = importlib.import_module("app.features")
    if features.cli is None and features.identify is None:  # a core-only project's
        return features
    from app.config import CORE
    from app.store import open_database
    from app.web import hello

    return SimpleNamespace(settings_needs=CORE, open_database=open_database,
                           mount=hello.setup_routes, identify=None, cli=None)
