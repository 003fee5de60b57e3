"""argon2id password hashing: the library's recommended profile, rehash on verify when the
parameters change, and a dummy hash so an unknown email costs the same as a wrong password."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounds the hashing cost an attacker can ask for


class Passwords:
    def __init__(self, *, cheap: bool = False, concurrency: int = 2) -> None:
        # `cheap` is for the test suite only: the same algorithm with minimal cost parameters.
        profile = profiles.CHEAPEST if cheap else profiles.RFC_9106_LOW_MEMORY
        self._hasher = PasswordHasher.from_parameters(profile)
        self._dummy_hash = self._hasher.hash("dummy password for timing equality")
        # Each hash takes ~64 MiB and a core for tens of ms: bound how many run at once.
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash (unknown user) it still does the work."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
