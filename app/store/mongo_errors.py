"""Which pymongo errors mean "the database cannot serve", and why, in one short word.

Everything the driver raises is one of three things: a duplicate unique value (the adapter's
Conflict), the database being unavailable (a reason below, answered 503 and told once to the
operator), or a programming error such as a malformed query (None here: it keeps raising, so a
bug shows as a 500 instead of hiding as an outage).

Reasons are fixed words, never the driver's message: that may name hosts and must not reach logs
as the "why" of an outage, nor clients. Beside the reason, `failure_detail` says what an operator
can act on (which server, and what it did: refused the connection, did not resolve, refused the
credentials of which user), built from the driver's structured state, never from a message that
could hold the URI; it goes to the operator's lines (`dependency.down`), never to clients.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

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
from pymongo.server_description import ServerDescription

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


# What the resolver's (negative) error numbers mean; positive ones are the OS's (os.strerror).
_RESOLVER_ERRORS = {
    -2: "the name does not resolve",  # EAI_NONAME
    -3: "the name could not be resolved for now",  # EAI_AGAIN
    -4: "the name could not be resolved",  # EAI_FAIL
    -5: "the name has no address",  # EAI_NODATA
}
_ERRNO = re.compile(r"\[Errno (-?\d+)\]")
_CREDENTIALS = re.compile(r"[^\s/@]*@")  # user:password@ (a URI inside a message)
MAX_SERVERS = 3  # named in a detail; a bigger replica set is summed up


def _address(server: ServerDescription) -> str:
    host, port = server.address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _server_state(server: ServerDescription) -> str:
    """What the driver's last check of one server found, in a few words."""
    error = server.error
    if error is None:
        return server.server_type_name if server.is_server_type_known else "not checked yet"
    if isinstance(error, OperationFailure):
        if error.code == 18:
            return "refused the credentials"
        return f"answered {(error.details or {}).get('codeName') or f'code {error.code}'}"
    if isinstance(error, ProtocolError):
        return "answered something that is not MongoDB"
    match = _ERRNO.search(str(error))  # the OS's error number, the one structured part left
    if match:
        number = int(match[1])
        return _RESOLVER_ERRORS.get(number) or (
            os.strerror(number).lower() if number > 0 else f"resolver error {number}")
    if isinstance(error, PyMongoError) and error.timeout:
        return "no answer within the timeout"
    if "closed" in str(error):  # the driver's "connection closed", "... is already closed"
        return "the connection was closed"
    return "the connection failed"


def uri_user(uri: str) -> str | None:
    """The URI's user name (never its password), for the operator's detail of a refusal:
    percent-decoded, as the driver sends it; None when the URI has none or urlsplit cannot read
    what the driver could (a stray "]" in a host)."""
    try:
        name = urlsplit(uri).username
    except ValueError:
        return None
    return unquote(name) if name else None


def failure_detail(reason: str, exc: BaseException | None,
                   servers: Iterable[ServerDescription], user: str | None) -> str:
    """A short line an operator can act on: each server (up to MAX_SERVERS) and what the
    driver last saw of it; for refused credentials, whose. No password, no URI."""
    known = list(servers)
    named = "; ".join(f"{_address(s)}: {_server_state(s)}" for s in known[:MAX_SERVERS])
    if len(known) > MAX_SERVERS:
        named += f" (and {len(known) - MAX_SERVERS} more)"
    addresses = ", ".join(_address(s) for s in known[:MAX_SERVERS]) or "the server"
    whose = f' of user "{user}"' if user else ""
    if reason == "authentication":
        return f"{addresses} refused the credentials{whose}"
    if reason == "authorization":
        return f"user \"{user or '?'}\" lacks a privilege the operation needs"
    if isinstance(exc, ConfigurationError):  # e.g. a mongodb+srv name that no longer resolves
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _CREDENTIALS.sub("", first)[:160]
    return named or "no server known yet"
