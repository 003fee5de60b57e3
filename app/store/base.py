"""The storage port: what the service needs from a database, whatever the database is."""

from __future__ import annotations

from typing import Protocol


class Store(Protocol):
    """Adapters raise `app.domain.errors.DependencyUnavailable` when the database does not answer
    within their bounded timeout; no driver exception crosses this boundary."""

    name: str

    async def connect(self) -> None:
        """Prepare the adapter (indexes, capabilities). Must not fail when the database is down:
        the service starts unready and recovers when the database comes back."""

    async def ping(self, timeout: float) -> None:
        """Round-trip to the database within `timeout` seconds or raise DependencyUnavailable."""

    async def close(self) -> None: ...
