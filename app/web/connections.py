"""Connections bounded in time and number, and listening sockets bound before anything starts.

Time. aiohttp has one timer of its own, the idle keep-alive timeout; nothing bounds how long a
request head or body may take, so a client sending one byte every few seconds holds its socket
for ever. `BoundedRequestHandler` (aiohttp's `RequestHandler`, which owns the parser, with one
timer added) keeps *deadlines*, not idle timers:

- the head: HTTP_HEADER_TIMEOUT_SECONDS from the connection for the first request, and from the
  first byte of each later one (between requests the keep-alive timeout applies). Missed: the
  connection is closed without an answer; a client that cannot send a head gets none.
- the body: HTTP_BODY_TIMEOUT_SECONDS from the end of the head. Missed: reading stops, and a
  handler reading the body gets a 408 (rendered in our envelope by the error middleware); the
  connection closes after the current answer, at once if that is already out.

A subclass rather than transport-level timers because only the parser knows where a head ends
and a body begins. aiohttp has no public hook for the moment a head is parsed, so one read of
its private state remains, isolated in `parsed_requests` (see there for why, and what fails if
an aiohttp upgrade changes it); everything else uses aiohttp's public API.

Number. `ConnectionGuard` is the listening sockets' protocol factory: past HTTP_MAX_CONNECTIONS
it answers a minimal 503 and closes before aiohttp sees the connection, so a flood costs one
write per socket. The cap fits under the open-file limit with a reserve (see `fd_budget`), so
the process keeps descriptors for its store, telemetry and logs, and accept() does not fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import StreamReader, web
from aiohttp.http_exceptions import BadHttpMessage

from app.config import ConfigError, Settings
from app.domain.ids import new_request_id
from app.telemetry import fields, get_logger
from app.web.malformed import malformed_response
from app.web.middlewares import REQUEST_ID_HEADER

log = get_logger("app.connections")

# Descriptors kept out of the connection cap: the store's pool (pymongo opens up to 100 per
# server), telemetry exporters, log files, the listening sockets.
FD_RESERVE = 256
# Connections the kernel queues before accept(), as aiohttp's sites do by default.
LISTEN_BACKLOG = 128
# What accept() fails with when descriptors or buffers run out (asyncio retries after 1 s).
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings, max_connections: int) -> ConnectionLimits:
        return cls(
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            keepalive_timeout=settings.http_keepalive_timeout_seconds,
            max_connections=max_connections,
        )


class Throttled:
    """One log line a second at most. Each line shows one event, and `suppressed` counts those
    not shown since the previous line; when events stop, the last of them is shown a second
    later with the count, so the lines always add up to every event."""

    def __init__(self, level: int, msg: str, *, clock: Callable[[], float] = time.monotonic,
                 interval: float = 1.0) -> None:
        self._level, self._msg, self._clock, self._interval = level, msg, clock, interval
        self._next = float("-inf")
        self._suppressed = 0
        self._last: dict[str, Any] = {}
        self._flush_at: asyncio.TimerHandle | None = None

    def __call__(self, **values: Any) -> None:
        now = self._clock()
        if now < self._next:
            if self._suppressed == 0:
                self._schedule_flush(self._next - now)
            self._suppressed += 1
            self._last = values
            return
        if self._flush_at is not None:  # this line carries the count instead
            self._flush_at.cancel()
            self._flush_at = None
        self._next = now + self._interval
        self._write(values, self._suppressed)
        self._suppressed = 0

    def _schedule_flush(self, delay: float) -> None:
        # Without a running loop the count goes out with the next line instead.
        with contextlib.suppress(RuntimeError):
            self._flush_at = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        if self._suppressed:
            self._next = self._clock() + self._interval
            self._write(self._last, self._suppressed - 1)  # the last one is the line itself
            self._suppressed = 0

    def _write(self, values: dict[str, Any], suppressed: int) -> None:
        log.log(self._level, self._msg, extra=fields(**values, suppressed=suppressed))


class BodyTimeout(web.HTTPRequestTimeout):
    """Set on a request body that missed its deadline: a handler reading it answers 408."""


def parsed_requests(handler: web.RequestHandler) -> Sequence[tuple[object, StreamReader]]:
    """The requests `handler` has parsed the head of and not yet handed to the app, oldest
    first, each as (message, body); one deque, appended to in place as heads complete in
    `data_received`.

    The one read of aiohttp's private state here (`RequestHandler._messages`), on purpose: no
    public hook runs when a head is parsed. `web.Server(request_factory=...)` runs when a request
    is *dispatched*, which for a pipelined request is only once the one before it is answered;
    a head deadline met there would cut a connection whose next head arrived complete while a
    slow handler ran (test_a_pipelined_head_behind_a_slow_handler_is_not_cut).
    Checked against aiohttp 3.14.5: a deque of (message, payload) pairs. If an upgrade renames
    or reshapes it, test_aiohttp_still_queues_parsed_heads in tests/test_connections.py fails,
    and so do the deadline tests there.
    """
    return handler._messages


class BoundedRequestHandler(web.RequestHandler):
    __slots__ = ("_body", "_counted", "_deadline", "_guard")

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._deadline: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None  # a body still arriving
        self._counted = True  # holds a place under the cap until connection_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm(self._guard.limits.header_timeout, self._head_late)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        self._body = None
        if self._counted:
            self._counted = False
            self._guard.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        parsed = parsed_requests(self)  # one deque for the handler's life, filled in place
        queued = len(parsed)
        super().data_received(data)
        added = len(parsed) > queued
        if added and self._body is not None and not self._body.is_eof():
            # Nothing new can start while a body is arriving: what aiohttp queued is the parse
            # error of that body (a bad chunk). It never tells the body, whose reader would wait
            # forever; tell it, so the handler answers 400 now, and close after that answer.
            error = getattr(parsed[-1][0], "exc", None)
            self._body.set_exception(error if isinstance(error, Exception) else
                                     BadHttpMessage("the request body is malformed"))
            self._body = None
            self._disarm()
            self.close()
        elif added:
            # A head is complete: its deadline is met, and its body's (if any) starts now.
            payload = parsed[-1][1]
            if payload.is_eof():
                self._disarm()
            else:
                self._body = payload
                self._arm(self._guard.limits.body_timeout, self._body_late)
        elif self._body is not None:
            if self._body.is_eof():
                self._body = None
                self._disarm()
        elif self._deadline is None and data:
            # The first byte of the next request. (Bytes that end a body and start the next
            # head in one read arm nothing; the head's next read does.)
            self._arm(self._guard.limits.header_timeout, self._head_late)

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        # aiohttp's own page quotes the bytes it refused (a token fragment included): keep its
        # logging and checks, answer with our envelope instead.
        super().handle_error(request, status, exc, message)
        return malformed_response(status)

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # aiohttp drains an unread body after the answer: our deadline ends that on purpose,
        # and a body that cannot be decoded fails it again after its 400 was sent.
        if not isinstance(kwargs.get("exc_info"), BodyTimeout | web.RequestPayloadError):
            super().log_exception(*args, **kwargs)

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = asyncio.get_running_loop().call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_late(self) -> None:
        self._deadline = None
        if self.transport is not None:
            self._guard.timed_out(phase="header", limitSeconds=self._guard.limits.header_timeout)
            self.force_close()

    def _body_late(self) -> None:
        self._deadline = None
        payload, self._body = self._body, None
        if payload is None or payload.is_eof() or self.transport is None:
            return
        self._guard.timed_out(phase="body", limitSeconds=self._guard.limits.body_timeout)
        self.close()  # read no more; close once the current answer is written
        payload.set_exception(BodyTimeout())


class _Refusal(asyncio.Protocol):
    """A connection over the cap: a minimal 503 in our envelope, then close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        request_id = new_request_id()
        body = orjson.dumps({
            "error": {"code": "server.busy", "message": "Too many connections; retry later",
                      "details": []},
            "meta": {"requestId": request_id},
        })
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nRetry-After: 1\r\n"
            + f"{REQUEST_ID_HEADER}: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        transport.close()


class ConnectionGuard:
    """The protocol factory of the listening sockets: a `BoundedRequestHandler` per connection,
    up to the cap; past it, a refusal."""

    def __init__(self, server: web.Server, limits: ConnectionLimits, *,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._server = server
        self.limits = limits
        self._loop = loop or asyncio.get_running_loop()
        # Counted when the protocol is made (several accepts can precede their connection_made).
        self.open = 0
        self.refused = Throttled(logging.WARNING, "connection.refused")
        self.timed_out = Throttled(logging.INFO, "connection.timeout")

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.limits.max_connections:
            self.refused(reason="connection limit reached", limit=self.limits.max_connections)
            return _Refusal()
        self.open += 1
        return BoundedRequestHandler(
            self._server, self, loop=self._loop,
            keepalive_timeout=self.limits.keepalive_timeout,
            access_log=None,  # replaced by our request.completed line
        )

    def release(self) -> None:
        self.open -= 1


class GuardedSite(web.BaseSite):
    """A bound socket served through the guard (`web.SockSite` would use `runner.server` as the
    protocol factory directly); stopped and drained by the runner like any site. It keeps its
    own listener rather than `BaseSite`'s private one, so `runner.addresses` does not list it
    (`name` does)."""

    __slots__ = ("_guard", "_listener", "_sock")

    def __init__(self, runner: web.BaseRunner, sock: socket.socket,
                 guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._sock = sock
        self._guard = guard
        self._listener: asyncio.Server | None = None

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        self._listener = await asyncio.get_running_loop().create_server(
            self._guard, sock=self._sock, backlog=LISTEN_BACKLOG
        )

    async def stop(self) -> None:
        if self._listener is not None:  # stop accepting; the runner drains the connections
            self._listener.close()
        await super().stop()


def fd_budget(requested: int, soft: int, hard: int, reserve: int = FD_RESERVE) -> tuple[int, int]:
    """(the open-file soft limit to set, the connection cap to use) so that the cap plus the
    reserve fit: raise the soft limit as far as the hard one allows, else lower the cap."""
    needed = requested + reserve
    if needed <= soft:
        return soft, requested
    if hard == resource.RLIM_INFINITY or needed <= hard:
        return needed, requested
    return hard, max(1, hard - reserve)


def ensure_fd_budget(requested: int) -> int:
    """Apply `fd_budget` to this process; the cap to use. One warning when it is lowered."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new_soft, cap = fd_budget(requested, soft, hard)
    if new_soft != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        except (ValueError, OSError):
            new_soft, cap = soft, max(1, soft - FD_RESERVE)
    if cap < requested:
        log.warning("connection.limit_lowered", extra=fields(
            requested=requested, effective=cap, openFileLimit=new_soft, reserve=FD_RESERVE,
            reason="HTTP_MAX_CONNECTIONS and the reserve exceed the open-file limit"))
    return cap


def accept_error_handler(
    fallback: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event-loop exception handler: asyncio reports each failed accept() (out of
    descriptors, say) with a traceback, thousands a second; this writes one line a second
    with a count. Everything else goes to `fallback` (the loop's default handler)."""
    throttled = Throttled(logging.ERROR, "connection.accept_failed")

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            throttled(error=errno.errorcode.get(exc.errno or 0, "?"), reason=exc.strerror)
        elif fallback is not None:
            fallback(loop, context)
        else:
            loop.default_exception_handler(context)

    return handle


def bind(host: str, port: int) -> list[socket.socket]:
    """Bind (not yet listen on) every address HOST names, so a bad HOST or a busy PORT stops
    the start before the store is touched; listening starts once the app is ready."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise ConfigError("HOST", f"{host!r} is neither an IP address nor a name that "
                                  "resolves") from None
    addresses = list(dict.fromkeys((info[0], info[4]) for info in infos))
    sockets: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(addresses) > 1:
                # IPv4 has its own socket; a dual-stack one would collide with it.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise _bind_error(host, port, exc) from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_error(host: str, port: int, exc: OSError) -> ConfigError:
    if exc.errno == errno.EADDRINUSE:
        return ConfigError("PORT", f"{port} is already in use")
    if exc.errno == errno.EACCES:
        return ConfigError("PORT", f"{port} needs privileges this process lacks")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError("HOST", f"{host} is not an address of this machine")
    return ConfigError("HOST", f"cannot listen on {host}:{port}: {exc.strerror}")
