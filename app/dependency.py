"""What the service knows about a dependency (the database): up, down and why, or not yet known.

One place decides the `app_dependency_up` gauge and the operator's two lines, `dependency.down`
(error, with a short `reason` and a `detail` to act on) and `dependency.up` (info, with the
outage length): one line per change of state, however many requests fail in between. At start
the first failed ping is the first `dependency.down` (the state starts unknown, not up).

Two feeds: the background ping (`ping_forever`, the authority) and the failures the store sees
while serving.
A failing request asks the pinger to check now rather than flipping the state itself: one slow
query, or a pooled connection that went stale during an outage just healed, must not tell the
operator the database is down when it answers.

While down, a reason that says more than "no answer" (refused credentials, a stepped-down primary)
is told once when it first appears: an outage that starts as "unreachable" and turns out to be
a rotated password must say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from app.domain.database import Database, StoreUnavailable
from app.domain.errors import DependencyUnavailable
from app.telemetry import fields, get_logger

log = get_logger("app.dependency")

# Reasons that only say the database did not answer; any other reason is worth its own line.
NO_ANSWER = frozenset({"unreachable", "timeout", "unavailable"})
# The pinger never checks more often than this, however many requests ask it to.
MIN_CHECK_INTERVAL = 0.5


class DependencyState:
    def __init__(
        self,
        name: str,
        set_gauge: Callable[[float], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.up: bool | None = None  # None: not checked yet
        self.reason: str | None = None
        # What the operator can act on (the server tried and what it did); for the log only,
        # never for clients (it names hosts).
        self.detail: str | None = None
        self._set_gauge = set_gauge
        self._clock = clock
        self._down_since = 0.0
        self._told: set[str] = set()  # the reasons this outage has logged
        self._check_now = asyncio.Event()

    def mark_up(self) -> None:
        if self.up is True:
            return
        was_down = self.up is False
        self.up = True
        self._set_gauge(1.0)
        if was_down:
            log.info("dependency.up", extra=fields(
                dependency=self.name, reason=self.reason,
                outageSeconds=round(self._clock() - self._down_since, 3)))
        self.reason = self.detail = None

    def mark_down(self, reason: str, detail: str | None = None) -> bool:
        """True when this is news (the state changed). `reason`: a fixed word (unreachable,
        timeout, authentication, ...); `detail`: a short, secret-free line to act on."""
        if self.up is False:
            if reason not in NO_ANSWER and reason not in self._told:
                self._told.add(reason)
                log.error("dependency.down", extra=fields(
                    dependency=self.name, reason=reason, detail=detail,
                    previousReason=self.reason))
                self.reason, self.detail = reason, detail
            return False
        self.up, self.reason, self.detail = False, reason, detail
        self._down_since = self._clock()
        self._told = {reason}
        self._set_gauge(0.0)
        log.error("dependency.down", extra=fields(
            dependency=self.name, reason=reason, detail=detail))
        return True

    def operation_failed(self, reason: str) -> None:
        """A store operation failed while serving: the pinger checks now (see the docstring)."""
        if self.up is not False:
            self._check_now.set()

    async def wait_for_next_check(self, period: float) -> None:
        """Sleep until the next ping is due: after `period`, or sooner when a failure asks."""
        await asyncio.sleep(min(period, MIN_CHECK_INTERVAL))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._check_now.wait(), max(0.0, period - MIN_CHECK_INTERVAL))
        self._check_now.clear()


async def ping_forever(
    database: Database, dependency: DependencyState, *, timeout: float, period: float
) -> None:
    """Keep `dependency` (and so app_dependency_up) true: ping every `period` seconds (each ping
    bounded by `timeout`), or sooner when a failing request asks. Survives anything a ping
    raises: a task that died would freeze the gauge at its last value, and the alert on it could
    never fire."""
    while True:
        try:
            await database.ping(timeout)
        except StoreUnavailable as exc:
            dependency.mark_down(exc.reason, exc.detail)
        except DependencyUnavailable as exc:
            dependency.mark_down("unavailable", exc.message)
        except Exception as exc:
            if dependency.mark_down("unexpected", f"the check raised {type(exc).__name__} "
                                    "(its traceback: dependency.check_failed)"):
                log.exception("dependency.check_failed")  # the traceback, once per outage
        else:
            dependency.mark_up()
        await dependency.wait_for_next_check(period)
