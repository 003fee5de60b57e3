"""Which pymongo errors mean "the database cannot serve", and why, in one short word.

Everything the driver raises is one of three things: a duplicate unique value (the adapter's
Conflict), the database being unavailable (a reason below, answered 503 and told once to the
operator), or a programming error such as a malformed query (None here: it keeps raising, so a
bug shows as a 500 instead of hiding as an outage).

Reasons are fixed words, never the driver's message: that may name hosts and must not reach logs
as the "why" of an outage, nor clients.
"""

from __future__ import annotations

from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    NotPrimaryError,
    OperationFailure,
    ProtocolError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

# Server error codes (src/mongo/base/error_codes.yml in the MongoDB source).
_CODE_REASONS: dict[int, str] = {
    6: "unreachable",  # HostUnreachable
    7: "unreachable",  # HostNotFound
    9001: "unreachable",  # SocketException
    133: "unreachable",  # FailedToSatisfyReadPreference
    13: "authorization",  # Unauthorized: the user lacks a privilege
    18: "authentication",  # AuthenticationFailed: the credentials were refused
    50: "timeout",  # MaxTimeMSExpired
    89: "timeout",  # NetworkTimeout
    262: "timeout",  # ExceededTimeLimit
    64: "write_concern",  # WriteConcernFailed
    91: "not_primary",  # ShutdownInProgress
    189: "not_primary",  # PrimarySteppedDown
    10107: "not_primary",  # NotWritablePrimary
    11600: "not_primary",  # InterruptedAtShutdown
    11602: "not_primary",  # InterruptedDueToReplStateChange
    13435: "not_primary",  # NotPrimaryNoSecondaryOk
    13436: "not_primary",  # NotPrimaryOrSecondary
}
# Labels the server puts on errors that a later attempt may not meet.
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


def failure_reason(exc: PyMongoError) -> str | None:
    """Why `exc` means the database is unavailable, or None when it is a programming error."""
    if isinstance(exc, DuplicateKeyError):
        return None  # the adapter's Conflict, not an outage
    if isinstance(exc, ServerSelectionTimeoutError):
        return "unreachable"  # no server could be selected in time: none answered usably
    if isinstance(exc, NotPrimaryError):
        return "not_primary"
    if isinstance(exc, WriteConcernError) or (
        isinstance(exc, BulkWriteError) and exc.details.get("writeConcernErrors")
    ):
        return "write_concern"
    if isinstance(exc, OperationFailure) and exc.code in _CODE_REASONS:
        return _CODE_REASONS[exc.code]
    if exc.timeout:
        return "timeout"
    if isinstance(exc, ConnectionFailure):
        return "unreachable"
    if any(exc.has_error_label(label) for label in _TRANSIENT_LABELS):
        return "transient"
    if isinstance(exc, ProtocolError):
        return "protocol"  # the server's answer could not be understood
    if isinstance(exc, ConfigurationError):
        # Raised at run time too: a mongodb+srv name that no longer resolves.
        return "configuration"
    return None
