"""argon2id password hashing: the library's recommended profile, rehash on verify when the
parameters change, and a dummy hash so an unknown email costs the same as a wrong password.

Password work is the one thing an anonymous caller can make expensive, so it is bounded twice:
globally (`concurrency` hashes run, at most `queue_max` wait, each for at most `max_wait`
seconds; beyond that `AuthBusy` at once), and per account (`FailedLoginBudget`: failed logins
per email, checked before any hashing).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from app.domain.errors import AuthBusy
from app.domain.ratelimit import Decision, Limit, RateLimiter

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounds the hashing cost an attacker can ask for
# A login that cannot start hashing within this long is answered busy: past it the caller is
# better served by Retry-After than by waiting behind a flood. With the hash itself (~0.1-0.5 s
# for the production profile) a login answers within about a second however long the queue.
MAX_WAIT_SECONDS = 0.5
BUSY_RETRY_AFTER = "1"  # about one hash per slot moves the queue on
ACCOUNT_FAILURE_PERIOD_SECONDS = 15 * 60  # AUTH_ACCOUNT_FAILURES_PER_15_MINUTES

T = TypeVar("T")


class Passwords:
    def __init__(
        self,
        *,
        cheap: bool = False,
        concurrency: int = 2,
        queue_max: int = 16,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        # `cheap` is for the test suite only: the same algorithm with minimal cost parameters.
        profile = profiles.CHEAPEST if cheap else profiles.RFC_9106_LOW_MEMORY
        self._hasher = PasswordHasher.from_parameters(profile)
        self._dummy_hash = self._hasher.hash("dummy password for timing equality")
        # Each hash takes ~64 MiB and a core for tens of ms: bound how many run at once...
        self._slots = asyncio.Semaphore(concurrency)
        # ...and how many are admitted at all (running + waiting).
        self._capacity = concurrency + queue_max
        self._max_wait = max_wait
        self.in_use = 0  # admitted and not finished (a running hash counts until its thread ends)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash (unknown user) it still does the work."""
        return await self._run(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        if self.in_use >= self._capacity:
            raise AuthBusy(headers={"Retry-After": BUSY_RETRY_AFTER})
        self.in_use += 1
        try:
            async with asyncio.timeout(self._max_wait):
                await self._slots.acquire()
        except BaseException as exc:
            self.in_use -= 1
            if isinstance(exc, TimeoutError):
                raise AuthBusy(headers={"Retry-After": BUSY_RETRY_AFTER}) from None
            raise
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, functools.partial(work, *args))
        # The slot is given back when the thread ends, not when the caller stops waiting: a
        # cancelled request (client gone) cannot stop the thread, which still holds a core.
        future.add_done_callback(self._finished)
        return await asyncio.shield(future)

    def _finished(self, _future: asyncio.Future[Any]) -> None:
        self.in_use -= 1
        self._slots.release()

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


class FailedLoginBudget:
    """Failed logins per account (keyed by the canonical email, whoever sends them), on the
    in-process GCRA limiter, so memory stays bounded by its `max_keys`. Failures spend the
    budget; a success must not, yet the budget is checked before hashing, when the outcome is
    unknown: so an attempt reserves a failure when it is let through and gives it back unless it
    failed. Concurrent guesses therefore spend the budget as they start, not as they end."""

    def __init__(self, failures: int, period: float, limiter: RateLimiter) -> None:
        self._limit = Limit(failures, period)
        self._limiter = limiter

    def reserve(self, email: str) -> Decision:
        """Refused (with retry_after) while the account's budget is spent; else one failure is
        reserved until `give_back`."""
        decision = self._limiter.peek("account:" + email, self._limit)
        if decision.allowed:
            self._limiter.charge("account:" + email, self._limit)
        return decision

    def give_back(self, email: str) -> None:
        self._limiter.refund("account:" + email, self._limit)
