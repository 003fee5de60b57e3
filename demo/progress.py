"""What a person watching the demo sees: each phase with the elapsed time, alert changes as they
happen, and a live status line (requests/s, error %, active alerts), rewritten in place on a
terminal and printed as a plain line every few seconds otherwise (CI logs)."""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import TextIO

# The status covers the answers of the last few seconds.
STATUS_WINDOW = 5.0
PLAIN_EVERY = 10.0


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Progress:
    def __init__(self, stream: TextIO, started: float) -> None:
        self.stream = stream
        self.started = started  # time.time() at the start of the demo
        self.tty = stream.isatty()
        self._status_shown = False
        self._last_plain = 0.0

    def elapsed(self) -> float:
        return time.time() - self.started

    def _line(self, text: str) -> None:
        if self._status_shown:
            self.stream.write("\r\033[K")
            self._status_shown = False
        self.stream.write(f"[{clock(self.elapsed())}] {text}\n")
        self.stream.flush()

    def phase(self, name: str, detail: str = "") -> None:
        self._line(f"== {name}" + (f": {detail}" if detail else ""))

    def note(self, text: str) -> None:
        self._line(f"   {text}")

    def status(self, phase: str, rate: float, errors: float, alerts: list[str]) -> None:
        text = (f"   {phase} | {rate:5.1f} req/s | errors {errors:5.1%} | alerts: "
                + (", ".join(alerts) if alerts else "none"))
        if self.tty:
            self.stream.write(f"\r\033[K[{clock(self.elapsed())}]{text}"[:200])
            self.stream.flush()
            self._status_shown = True
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY:
            self._last_plain = time.monotonic()
            self._line(text.strip())

    def close(self) -> None:
        if self._status_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._status_shown = False


class TrafficTail:
    """Reads the traffic process's answers as its file grows: the client's view of the last
    few seconds (an answer counts when it arrived)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""
        self._recent: deque[tuple[float, int]] = deque()
        self.ready = False  # the traffic's clients are signed in and requests flow

    def poll(self) -> tuple[float, float]:
        """(answers per second, share that were 5xx or no answer) over the window."""
        if self.path.exists():
            with open(self.path) as stream:
                stream.seek(self._offset)
                chunk = stream.read()
                self._offset = stream.tell()
            lines = (self._partial + chunk).split("\n")
            self._partial = lines.pop()
            for line in lines:
                if line:
                    answer = json.loads(line)
                    self.ready = self.ready or answer["a"] == "ready"
                    if answer["s"] >= 0:  # -1: a note of the client's, not an answer
                        self._recent.append((answer["t"] + answer["ms"] / 1000, answer["s"]))
        now = time.time()
        while self._recent and self._recent[0][0] < now - STATUS_WINDOW:
            self._recent.popleft()
        answers = [status for _, status in self._recent]
        if not answers:
            return 0.0, 0.0
        failed = sum(1 for status in answers if status >= 500 or status == 0)
        return len(answers) / STATUS_WINDOW, failed / len(answers)
