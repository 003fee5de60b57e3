"""Identifiers and time, shared by the domain and both store adapters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ulid import ULID

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def new_id() -> str:
    """A ULID: sortable by creation time, so ids double as a stable pagination key."""
    return str(ULID())


def is_id(value: str) -> bool:
    return _ULID.fullmatch(value) is not None


def utcnow() -> datetime:
    """Now, truncated to milliseconds: BSON dates hold ms, so both stores agree to the tick."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
