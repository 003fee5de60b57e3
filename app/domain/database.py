"""The database port: what the core needs from a database, whatever the database is and whatever
the service keeps in it (the example domain's `Store` extends it with its collections).

Adapters raise `StoreUnavailable` (a `DependencyUnavailable`) for every failure that means the
database cannot serve (not answering within the bounded timeout, refusing the credentials, no
primary, ...); anything else is a programming error and keeps raising. No other driver exception
crosses this boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.domain.errors import DependencyUnavailable
from app.domain.ratelimit import Limiter


class StoreUnavailable(DependencyUnavailable):
    """The database cannot serve. `reason` is a short fixed word for operators (unreachable,
    timeout, authentication, authorization, not_primary, write_concern, transient, ...), never
    the driver's message: that may name hosts, and clients see only the generic message.
    `detail`: what an operator can act on (the server tried and what it did), secret-free; for
    the operator's lines only, never for clients."""

    def __init__(self, reason: str, operation: str, detail: str | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.operation = operation
        self.detail = detail


class Database(Protocol):
    name: str

    async def connect(self) -> None:
        """Prepare the adapter (indexes, capabilities). Must not fail when the database is down
        or refuses the credentials: the service starts unready, the adapter keeps preparing in
        the background, and the service recovers when the database comes back."""

    async def ping(self, timeout: float) -> None:
        """Round-trip to the database within `timeout` seconds or raise StoreUnavailable."""

    def on_failure(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(reason)` whenever an operation raises StoreUnavailable (pings excepted:
        their caller sees the failure). Returns the function that stops it."""

    async def close(self) -> None: ...

    def shared_rate_limiter(self) -> Limiter:
        """A rate limiter whose counts every instance on this database shares."""
