"""The Mongo adapters' call boundary: every pymongo operation runs through `DriverCalls.run`.

Each operation runs in a task of its own, bounded by the driver's deadline (`pymongo.timeout`),
while the caller waits at most `DEADLINE_MARGIN` longer; every driver failure that means the
database cannot serve becomes `StoreUnavailable` with a short reason (see `mongo_errors`), a
duplicate unique value becomes `Conflict`, and anything else (a programming error) keeps raising.
So a caller never waits much past the timeout, and no outage, refused credential or failover
turns into a 500.

An operation that fails before any of its commands fails at a server (no server could be
selected, the connection was refused, the name did not resolve) is invisible to command
monitoring, which sees only commands sent. The boundary tells the `OperationListener`s (the
telemetry's command listener) instead, once per operation, under the command the operation
sends first: so `mongo_command_duration_seconds{outcome="error"}` shows an outage, and a
failure is counted exactly once. A failure monitoring saw is not told again: a command a server
failed (an error sample), or a reply monitoring recorded as succeeded that pymongo then raises
from (a write's writeConcernError: the primary applied it, the ok sample stands).

The driver is never cancelled from outside: a caller that stops waiting (its deadline, a client
that left, a probe's own timeout) leaves the operation to end at the driver's deadline. On
Python 3.11 a cancellation landing while the driver waits on one of its conditions
(`asyncio.wait_for` around `Condition.wait`, a task of its own) can orphan that task: it
re-acquires the topology's or the pool's lock after its caller has gone, and no one releases it.
Server selection and the monitor then wait on that lock forever, and the service never sees the
database come back (a fault drill under CPU load did exactly that).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import pymongo
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    PyMongoError,
    WriteConcernError,
    WriteError,
)

from app.domain.database import StoreUnavailable
from app.domain.errors import Conflict
from app.store.mongo_errors import failure_detail, failure_reason

T = TypeVar("T")

# How long past the timeout a caller waits for the driver. pymongo checks its own deadline only
# between 0.5 s polls while it waits for a server (a retry after a dropped connection waited up
# to timeout + 0.5 s); the margin lets the driver's own, more precise error win when it can.
DEADLINE_MARGIN = 0.05
# How long closing waits for operations still running past their callers (each is bounded by
# the driver's own deadline; closing the client ends the rest).
CLOSE_WAIT = 1.0
# The command an operation sends first, by the verb its name ends with ("users.find": find).
# An operation whose verb is not here, or that sends another command first, names its command
# (`run(..., command="findAndModify")`); otherwise its label is the verb itself.
VERB_COMMANDS = {
    "find": "find", "list": "find", "insert": "insert", "update": "update",
    "delete": "delete", "aggregate": "aggregate", "ping": "ping",
    "create_index": "createIndexes",
}


def operation_command(operation: str) -> str:
    verb = operation.rpartition(".")[2]
    return VERB_COMMANDS.get(verb, verb)


@dataclass(slots=True)
class Operation:
    """One call through the boundary, as the commands it sends can see it (`current_operation`
    in a command listener)."""

    name: str  # "users.find"
    command: str  # its label when it fails before reaching a server
    failed_commands: int = 0  # commands of it that failed at a server (monitoring saw them)
    answered: bool = False  # its last command sent succeeded (monitoring recorded it as ok)


_current: ContextVar[Operation | None] = ContextVar("mongo_operation", default=None)


def current_operation() -> Operation | None:
    """The operation the running command belongs to (pymongo calls command listeners in the
    task that runs the operation), or None outside the boundary."""
    return _current.get()


@runtime_checkable
class OperationListener(Protocol):
    def operation_failed(self, command: str, seconds: float) -> None:
        """An operation failed (the database could not serve it) in a way command monitoring
        did not record (see `_seen_by_monitoring`), after waiting `seconds`; `command`: the
        one it sends first."""


# What pymongo raises from a reply it published as succeeded (a write's writeErrors or
# writeConcernError): monitoring recorded that reply, so the failure is not news to it.
_RAISED_FROM_SUCCEEDED = (WriteConcernError, WriteError, BulkWriteError)


class FailedCommands(monitoring.CommandListener):
    """Follows each operation's commands as the command listeners record them (failed at a
    server, or answered), so the boundary knows whether an operation's failure was seen."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        operation = _current.get()
        if operation is not None:
            operation.answered = False

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        operation = _current.get()
        if operation is not None:
            operation.answered = True

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        operation = _current.get()
        if operation is not None:
            operation.failed_commands += 1
            operation.answered = False


def _seen_by_monitoring(operation: Operation, exc: PyMongoError) -> bool:
    """Whether the command listeners already recorded the failure `exc` ends `operation`
    with: a server failed one of its commands, or `exc` comes from the reply of its last
    command, recorded as succeeded. A failure after an answered command that is not from its
    reply (the next command could not be sent) was not seen."""
    return operation.failed_commands > 0 or (
        operation.answered and isinstance(exc, _RAISED_FROM_SUCCEEDED))


class DriverCalls:
    """Runs driver operations for one client: bounded, never cancelled, errors translated, and
    failures told to the `on_failure` listeners (the dependency state)."""

    def __init__(self, client: AsyncMongoClient[Any], timeout: float,
                 listeners: Sequence[object] = (), *, user: str | None = None) -> None:
        """`listeners`: the client's command listeners; those that are `OperationListener`s
        are told of the failures command monitoring cannot see (the client must also have a
        `FailedCommands` among its listeners). `user`: the URI's user name, for the detail of
        refused credentials."""
        self._client = client
        self._timeout = timeout
        self._user = user
        self._operation_listeners = [
            listener for listener in listeners if isinstance(listener, OperationListener)]
        self._failure_listeners: list[Callable[[str], None]] = []
        self._credentials_refused = False
        self._running: set[asyncio.Task[Any]] = set()  # operations, awaited or not

    async def run(
        self,
        operation: str,
        work: Callable[[], Awaitable[T]],
        *,
        timeout: float | None = None,
        report: bool = True,
        command: str | None = None,
    ) -> T:
        """Run `work` under the timeout (the client's unless given) and translate driver errors.
        The driver runs in a task of its own that nothing cancels: past the timeout and the
        margin the caller stops waiting and the task ends at the driver's deadline. `report`
        False keeps a failure from the listeners (a probe, whose caller sees it). `command`:
        the one `work` sends first, when the operation's verb does not say (VERB_COMMANDS)."""
        seconds = self._timeout if timeout is None else timeout
        record = Operation(operation, command or operation_command(operation))

        async def bounded() -> T:
            _current.set(record)  # the task's own context: its commands, and only they, see it
            started = time.perf_counter()
            try:
                with pymongo.timeout(seconds):
                    return await work()
            except PyMongoError as exc:
                # Once per operation, when it ends (a caller that stopped waiting included),
                # unless monitoring counted it already.
                if not _seen_by_monitoring(record, exc) and failure_reason(exc) is not None:
                    waited = time.perf_counter() - started
                    for listener in self._operation_listeners:
                        listener.operation_failed(record.command, waited)
                raise

        task = asyncio.create_task(bounded(), name=f"mongo {operation}")
        self._running.add(task)
        task.add_done_callback(self._finished)
        with self._translated(operation, report):
            # asyncio.wait neither cancels the task on a timeout nor when the caller is cancelled.
            done, _ = await asyncio.wait((task,), timeout=seconds + DEADLINE_MARGIN)
            if not done:
                raise self._unavailable("timeout", operation, report)
            return task.result()

    def on_failure(self, listener: Callable[[str], None]) -> Callable[[], None]:
        self._failure_listeners.append(listener)
        return lambda: self._failure_listeners.remove(listener)

    async def drain(self) -> None:
        """Give operations whose callers stopped waiting a moment to end (before the client
        closes)."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=CLOSE_WAIT)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that stopped waiting has answered already

    @contextlib.contextmanager
    def _translated(self, operation: str, report: bool) -> Iterator[None]:
        try:
            yield
        except DuplicateKeyError as exc:
            raise Conflict("The value is already taken") from exc
        except PyMongoError as exc:
            reason = failure_reason(exc)
            if reason is None:
                raise
            raise self._unavailable(reason, operation, report, exc) from exc
        self._credentials_refused = False

    def _unavailable(self, reason: str, operation: str, report: bool,
                     exc: PyMongoError | None = None) -> StoreUnavailable:
        if reason == "authentication":
            self._credentials_refused = True
        elif reason in ("unreachable", "timeout"):
            # After a refusal the driver waits to re-check the server, and says "timed out" or
            # "unreachable"; the news is still the refusal, until an operation succeeds.
            reason = "authentication" if self._credentials_refused else self._reachability(reason)
        if report:
            for listener in self._failure_listeners:
                listener(reason)
        servers = self._client.topology_description.server_descriptions().values()
        return StoreUnavailable(reason, operation,
                                failure_detail(reason, exc, servers, self._user))

    def _reachability(self, reason: str) -> str:
        """A timeout while no server is known to answer (a dropped connection, a killed server)
        is "unreachable": the operator's question is "is it up", not "is it slow"."""
        servers = self._client.topology_description.server_descriptions().values()
        return "unreachable" if not any(s.is_server_type_known for s in servers) else reason
