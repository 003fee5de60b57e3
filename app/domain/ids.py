"""Identifiers and time, shared by the domain, both store adapters and the request middleware.

One generator makes every id: document ids (`new_id`) and request ids (`new_request_id`, with
its `req_` prefix) are monotonic ULIDs (48-bit millisecond time, then 80 bits that are random
per millisecond; within one millisecond the low 20 bits count up from a random start, as the
ULID spec's monotonic form does). They are sortable by creation time, so a document id doubles
as a stable pagination key, and unique, not secret: nothing uses an id as a credential (tokens
are signed). Every request pays for its id, so the generator is tuned: the first 22 characters
are encoded once a millisecond and only the last four per id, a few times cheaper than a random
ULID per call.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every 10-bit value as its two base32 digits.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_COUNTER_BITS = 20


def monotonic_ulids(prefix: str = "") -> Callable[[], str]:
    """A source of `prefix` + ULID, each larger than the one before within a millisecond.
    Its state lives in the closure: a cell read costs less than a global's."""
    last_ms = -1
    head = ""
    counter = 1 << _COUNTER_BITS
    time_ns, randbits, pairs = time.time_ns, random.getrandbits, _PAIRS

    def next_id() -> str:
        nonlocal last_ms, head, counter
        ms = time_ns() // 1_000_000
        if ms != last_ms or counter >> _COUNTER_BITS:  # a new millisecond, or 2**19 ids in it
            last_ms = ms
            value = ms << 80 | randbits(60) << _COUNTER_BITS
            head = prefix + "".join([pairs[value >> shift & 1023] for shift in range(120, 11, -10)])
            counter = randbits(_COUNTER_BITS - 1)  # room to count up
        n = counter
        counter = n + 1
        return head + pairs[n >> 10] + pairs[n & 1023]

    return next_id


# A ULID: sortable by creation time, so ids double as a stable pagination key.
new_id = monotonic_ulids()
# `req_` + a ULID: the id of a request that arrived without a well-formed one of its own.
new_request_id = monotonic_ulids("req_")


def is_id(value: str) -> bool:
    return _ULID.fullmatch(value) is not None


def utcnow() -> datetime:
    """Now, truncated to milliseconds: BSON dates hold ms, so both stores agree to the tick."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
