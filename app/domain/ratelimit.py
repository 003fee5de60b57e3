"""GCRA rate limiting (the generic cell rate algorithm, a token bucket kept as one timestamp per
key), with bounded memory.

Each key stores its theoretical arrival time (TAT). A request is allowed when the TAT, pushed
one emission interval further, stays within the burst tolerance of now. A key whose TAT has
passed is indistinguishable from a new one, so expired keys are dropped; under a flood of
distinct keys the oldest are evicted once `max_keys` is reached, so memory stays flat.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    """`count` requests per `period` seconds, all of them usable at once (the burst)."""

    count: int
    period: float = 60.0
    # Derived once: every limited request reads them.
    interval: float = field(init=False, repr=False, compare=False)
    tolerance: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval", self.period / self.count)
        object.__setattr__(self, "tolerance", self.period - self.interval)


class Decision(NamedTuple):
    """Immutable, and a tuple (a frozen dataclass costs a `setattr` per field, per request)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until the next request would be allowed (0 when allowed)
    first_rejection: bool = False  # the first rejection of this key in this window


class RateLimiter:
    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._state: dict[str, list[float]] = {}  # key -> [tat, rejection logged until]
        self._max_keys = max_keys
        self._clock = clock

    def __len__(self) -> int:
        return len(self._state)

    async def prepare(self) -> None:
        return None  # nothing to set up in memory

    def hit(self, key: str, limit: Limit) -> Decision:
        # Every limited request runs this: locals and plain comparisons, no builtins.
        now = self._clock()
        state = self._state
        entry = state.pop(key, None)  # re-inserted below: dict order is recency
        if entry is None:
            tat, logged_until = now, 0.0
        else:
            tat, logged_until = entry
            if tat < now:
                tat = now
        interval = limit.interval
        new_tat = tat + interval
        allow_at = new_tat - limit.tolerance - interval
        if allow_at > now + 1e-9:  # float slack: waiting exactly retry_after must succeed
            first = logged_until <= now
            self._store(key, [tat, tat if first else logged_until])
            return Decision(False, limit.count, 0, tat - now, allow_at - now, first)
        if len(state) >= self._max_keys:  # _store, inlined for the common answer
            self._evict()
        state[key] = [new_tat, logged_until]
        remaining = math.floor((limit.period - (new_tat - now)) / interval + 1e-9)
        return Decision(True, limit.count, remaining if remaining > 0 else 0, new_tat - now, 0.0)

    def peek(self, key: str, limit: Limit) -> Decision:
        """The decision `hit` would make, without spending: for budgets spent only by some
        outcomes (a failed login), checked before the outcome is known. A refusal is still
        noted, so `first_rejection` holds once a window."""
        now = self._clock()
        entry = self._state.get(key)
        if entry is None or entry[0] <= now:
            return Decision(True, limit.count, limit.count, 0.0, 0.0)
        tat = entry[0]
        allow_at = tat - limit.tolerance
        if allow_at > now + 1e-9:
            first = entry[1] <= now
            if first:
                entry[1] = tat
            return Decision(False, limit.count, 0, tat - now, allow_at - now, first)
        remaining = math.floor((limit.period - (tat - now)) / limit.interval + 1e-9)
        return Decision(True, limit.count, max(remaining, 0), tat - now, 0.0)

    def charge(self, key: str, limit: Limit) -> None:
        """Spend one unit even past the limit (a failure that raced past `peek` still counts),
        never pushing the key further than one whole period of refusals."""
        now = self._clock()
        entry = self._state.pop(key, None)
        tat = max(entry[0], now) if entry else now
        ceiling = now + limit.period + limit.tolerance  # refusals end within one period
        self._store(key, [min(tat + limit.interval, ceiling), entry[1] if entry else 0.0])

    def refund(self, key: str, limit: Limit) -> None:
        """Undo one `charge` (a reservation that turned out not to be spent)."""
        entry = self._state.get(key)
        if entry is not None:
            entry[0] = max(entry[0] - limit.interval, self._clock())

    def _store(self, key: str, entry: list[float]) -> None:
        if len(self._state) >= self._max_keys:
            self._evict()
        self._state[key] = entry

    def _evict(self) -> None:
        """Drop expired keys; if none expired, the least recently used tenth."""
        now = self._clock()
        expired = [key for key, (tat, logged) in self._state.items() if max(tat, logged) <= now]
        for key in expired or list(self._state)[: max(1, self._max_keys // 10)]:
            del self._state[key]


def header_seconds(value: float) -> int:
    """Whole seconds for Retry-After / RateLimit-Reset: rounded up, so waiting that long works."""
    return max(0, math.ceil(value - 1e-9))


class Limiter(Protocol):
    """Where the counts live: in this process (RateLimiter) or shared by every instance (the
    MongoDB backend, whose `hit` is a coroutine: one round trip per limited request)."""

    def hit(self, key: str, limit: Limit) -> Decision | Awaitable[Decision]: ...

    async def prepare(self) -> None:
        """Set up storage (indexes); must not fail when the database is down."""


def fixed_window_decision(count: int, limit: Limit, window_end: float, now: float) -> Decision:
    """The decision for the `count`-th request of a fixed window (the shared backend's rule:
    one atomic increment per request, no read-modify-write)."""
    left = window_end - now
    if count > limit.count:
        return Decision(False, limit.count, 0, left, left, first_rejection=count == limit.count + 1)
    return Decision(True, limit.count, limit.count - count, left, 0.0)
