"""The embedded database: nothing but this process's memory. For development and tests only; the
configuration refuses it in production because nothing survives a restart. It never fails for
want of a database, so the dependency it stands for is always up. What a service keeps in it is
a subclass's: the example domain's `MemoryStore` is one."""

from __future__ import annotations

from collections.abc import Callable

from app.domain.ratelimit import RateLimiter


class MemoryDatabase:
    name = "memory"

    async def connect(self) -> None:
        return None

    async def ping(self, timeout: float) -> None:
        return None

    def on_failure(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return lambda: None  # nothing here ever fails for want of a database

    async def close(self) -> None:
        return None

    def shared_rate_limiter(self) -> RateLimiter:
        # One process holds all the memory database's state, so its limiter is the process's own.
        return RateLimiter()
