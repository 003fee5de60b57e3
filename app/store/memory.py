"""The embedded store: everything in process memory. For development and tests only; the
configuration refuses it in production because nothing survives a restart."""

from __future__ import annotations


class MemoryStore:
    name = "memory"

    async def connect(self) -> None:
        return None

    async def ping(self, timeout: float) -> None:
        return None

    async def close(self) -> None:
        return None
