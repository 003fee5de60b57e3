"""Readiness: a small registry of named checks, plus the draining flag set on shutdown.

Other parts register their own check (the store here, the catalog cache later), so `/ready`
never needs to know what it is checking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# A check answers None when ready, or a short reason when not.
Check = Callable[[], Awaitable[str | None]]


class Lifecycle:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self.draining = False
        self.add_check("draining", self._not_draining)

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def start_draining(self) -> None:
        self.draining = True

    async def _not_draining(self) -> str | None:
        return "shutting down" if self.draining else None

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Run every check concurrently; a check that raises counts as not ready."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._checks[n]() for n in names), return_exceptions=True)
        report: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                report[name] = f"check failed: {type(result).__name__}"
            else:
                report[name] = "ok" if result is None else result
        return all(value == "ok" for value in report.values()), report
