"""Light, steady load during one fault: a thread per route at a few requests a second, each
bounded in count and time, every answer recorded (start and end on the monotonic clock)."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

REQUEST_TIMEOUT = 5.0
GAUGE = 'app_dependency_up{dependency="mongo"}'


@dataclass(frozen=True)
class Answer:
    route: str
    start: float
    end: float
    status: int  # 0: no answer (connection refused, reset or timed out)
    code: str | None = None
    slug: str | None = None


@dataclass
class Target:
    route: str
    method: str
    path: str
    per_second: float
    body: Any = None  # a dict, or a callable of the request number giving one
    token: bool = False


@dataclass
class Load:
    base: str
    token: str
    targets: list[Target]
    max_seconds: float
    answers: list[Answer] = field(default_factory=list)
    gauge: list[tuple[float, float | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        started = time.monotonic()
        for target in self.targets:
            self._threads.append(threading.Thread(target=self._drive, args=(target, started)))
        self._threads.append(threading.Thread(target=self._sample, args=(started,)))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 2)

    def _paced(self, per_second: float, started: float):
        """Request numbers at `per_second`, until stopped or `max_seconds` passed."""
        limit = int(self.max_seconds * per_second) + 1
        for n in range(limit):
            if self._stop.is_set() or time.monotonic() - started > self.max_seconds:
                return
            due = started + n / per_second
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            yield n

    def _drive(self, target: Target, started: float) -> None:
        for n in self._paced(target.per_second, started):
            body = target.body(n) if callable(target.body) else target.body
            headers = {"Authorization": f"Bearer {self.token}"} if target.token else {}
            start = time.monotonic()
            status, payload = request(self.base + target.path, target.method, body, headers)
            error = payload.get("error") if isinstance(payload, dict) else None
            answer = Answer(
                target.route, start, time.monotonic(), status,
                code=error.get("code") if isinstance(error, dict) else None,
                slug=body.get("slug") if isinstance(body, dict) and status == 201 else None,
            )
            with self._lock:
                self.answers.append(answer)

    def _sample(self, started: float) -> None:
        for _ in self._paced(5, started):
            try:
                with urllib.request.urlopen(self.base + "/metrics", timeout=2) as response:
                    text = response.read().decode()
            except OSError:
                continue
            value = next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                          if line.startswith(GAUGE)), None)
            with self._lock:
                self.gauge.append((time.monotonic(), value))


def request(url: str, method: str = "GET", body: dict | None = None,
            headers: dict | None = None) -> tuple[int, Any]:
    """One call; never raises for an HTTP status or a dropped connection."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json(error.read())
    except (OSError, TimeoutError):
        return 0, None


def _json(text: bytes) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def tag_bodies(prefix: str):
    """Unique tag slugs for the admin writes of one fault."""
    counter = itertools.count()
    return lambda _n: {"slug": f"{prefix}-{next(counter)}", "name": f"{prefix} tag"}
