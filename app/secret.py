"""`Secret`: a value that no repr, str, format, log line, traceback or Sentry frame can show.

Configuration holds every credential (JWT secrets, the Mongo URI with its password, the Sentry
DSN) in this type; the one place that needs the value calls `reveal()` at the moment of use, so
a secret never sits in a variable or an object whose repr a telemetry path might print.
"""

from __future__ import annotations

from typing import NoReturn

MASK = "Secret('**********')"


class Secret:
    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:  # no pickling it into a cache or a crash dump
        raise TypeError("a Secret cannot be pickled")
