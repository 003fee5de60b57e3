"""Readiness: a small registry of named checks, plus the draining flag set on shutdown.

Other parts register their own check (the store here, the catalog cache later), so `/ready`
never needs to know what it is checking. A check is required (it must pass for the instance to
be ready) or only reported: `/ready` shows its state to the operator, and the load balancer
keeps the instance whatever it says (the store, unless READY_REQUIRES_STORE; see app.web.health).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# A check answers None when ready, or a short reason when not.
Check = Callable[[], Awaitable[str | None]]
# Past this a check is "not ready": a probe must answer before the orchestrator gives up on it.
CHECK_TIMEOUT = 2.0


class Lifecycle:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._reported_only: set[str] = set()
        self.draining = False
        self.add_check("draining", self._not_draining)

    def add_check(self, name: str, check: Check, *, required: bool = True) -> None:
        """Register `check` under `name`; with required=False its reason is reported by
        `/ready` but does not make the instance unready."""
        self._checks[name] = check
        if required:
            self._reported_only.discard(name)
        else:
            self._reported_only.add(name)

    def start_draining(self) -> None:
        self.draining = True

    async def _not_draining(self) -> str | None:
        return "shutting down" if self.draining else None

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Run every check concurrently; a required check that raises, takes longer than
        CHECK_TIMEOUT or answers a reason makes the instance not ready (with its reason),
        never an error."""
        names = list(self._checks)
        results = await asyncio.gather(
            *(asyncio.wait_for(self._checks[n](), CHECK_TIMEOUT) for n in names),
            return_exceptions=True,
        )
        report: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, TimeoutError):
                report[name] = "check timed out"
            elif isinstance(result, BaseException):
                report[name] = f"check failed: {type(result).__name__}"
            else:
                report[name] = "ok" if result is None else result
        ready = all(value == "ok" for name, value in report.items()
                    if name not in self._reported_only)
        return ready, report


class StartupError(Exception):
    """The service cannot start (e.g. a backup to serve from is unreadable): one line for the
    operator, and a non-zero exit."""
