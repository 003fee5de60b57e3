"""JSON logs, one object per line on stdout, with the request context attached.

The request middleware binds a `RequestContext` in a context variable; every log call made while
that request is handled (in our code or a library's) carries its fields without passing them
around. Extra fields go through `extra=fields(...)`.

Every request writes one access line, so that line has a fast path (`access_line`) that skips
the stdlib's record machinery, and all lines go through one `LineWriter` that batches the lines
of one event-loop iteration into one write: order is kept, and a busy server makes one system
call per loop turn instead of one per line.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import sys
import time
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any

import orjson
from aiohttp.http_exceptions import HttpProcessingError

from app.telemetry.redact import USER_AGENT_MAX, redact_text, user_agent_text

_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}
ACCESS_LOGGER = "app.access"


@dataclass(slots=True)
class RequestContext:
    """What every log line written during one request carries. Mutable: the route is known only
    after routing and the user only after authentication."""

    request_id: str
    route: str | None = None  # "GET /content/{id}", or "__unmatched__"
    template: str = "__unmatched__"  # "/content/{id}": the metrics label
    user_id: str | None = None
    trace_id: str | None = None  # set when the request is traced (sampled)
    span_id: str | None = None
    # The trusted client address, once computed (by the rate limiter or the access line): on the
    # access line only, not on every line of the request.
    client_ip: str | None = None


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def fields(**values: Any) -> dict[str, Any]:
    """`log.info("msg", extra=fields(durationMs=3))`: extra fields for one line."""
    return {"fields": values}


class _Clock:
    """UTC timestamps with milliseconds; the part up to the second is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        return f"{self._prefix}{int((created - second) * 1000):03d}Z"


_clock = _Clock()


def _line(level: str, msg: str, logger: str, created: float) -> dict[str, Any]:
    line: dict[str, Any] = {"ts": _clock.format(created), "level": level, "msg": msg}
    if logger != "app":
        line["logger"] = logger
    ctx = current_request.get()
    if ctx is not None:
        line["requestId"] = ctx.request_id
        if ctx.route is not None:
            line["route"] = ctx.route
        if ctx.user_id is not None:
            line["userId"] = ctx.user_id
        if ctx.trace_id is not None:
            line["traceId"] = ctx.trace_id
            line["spanId"] = ctx.span_id
    return line


class LineWriter:
    """Collects rendered lines and writes them once per event-loop iteration (at once when no
    loop runs: at start, in the CLI, at exit)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._pending: list[bytes] = []

    def write(self, line: bytes) -> None:
        self._pending.append(line)
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        buffer = getattr(self._stream, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:  # a text-only stream (tests capture into StringIO)
            self._stream.write(data.decode())
        self._stream.flush()


class JsonHandler(logging.Handler):
    """The stdlib side: every logger's records, rendered as our JSON lines."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.write(render_record(record))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.writer.flush()


def render_record(record: logging.LogRecord) -> bytes:
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        return _malformed_http(record, exc)
    line = _line(_LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
                 record.getMessage(), record.name, record.created)
    extra = getattr(record, "fields", None)
    if extra:
        line.update(extra)
    if record.exc_info and record.exc_info[0] is not None:
        line["error"] = {
            "type": record.exc_info[0].__name__,
            "stack": redact_text("".join(traceback.format_exception(*record.exc_info))),
        }
    return orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE)


# aiohttp quotes the offending bytes (`...: b'Bearer eyJ...'`): a fragment of whatever the
# client sent, a token included. The reason keeps the words only.
_QUOTED_BYTES = re.compile(r"""\s*:?\s*b(['"]).*""", re.S)


def malformed_reason(exc: HttpProcessingError) -> str:
    first = (exc.message or "").strip().splitlines()[0] if exc.message else ""
    return _QUOTED_BYTES.sub("", first).rstrip(" :.")[:200]


def _malformed_http(record: logging.LogRecord, exc: HttpProcessingError) -> bytes:
    # aiohttp's parser rejects bytes that are not HTTP before any middleware runs and logs them
    # at error with a stack. That is scanner noise, not a fault of ours: one warn line.
    line = _line("warn", "request.malformed_http", record.name, record.created)
    line["statusCode"] = exc.code
    line["reason"] = malformed_reason(exc)
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


_access = logging.getLogger(ACCESS_LOGGER)
_writer: LineWriter | None = None


def access_level(status: int) -> int:
    """error for a failure of ours; warn for 503, the designed "not now" of an outage or a
    drain (the dependency.down line and the metrics carry the outage, not one error a request);
    info for the rest, 499 (the client left) included."""
    if status == 503:
        return logging.WARNING
    return logging.ERROR if status >= 500 else logging.INFO


def _json_string(text: str) -> bytes:
    """`text` as a JSON string. Lone surrogates (bytes that were not UTF-8, smuggled through
    `surrogateescape`) cannot be encoded: they are written as their escape text instead."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return orjson.dumps(text.encode("utf-8", "backslashreplace").decode("utf-8"))


class _AccessTemplate:
    """The `request.completed` line as bytes joined from preformatted parts: the same object
    `_line` + orjson would write (same fields, same order, same escaping), without building a
    dict per request. Values that come from the client (the path, the user agent) are escaped by
    orjson; route strings are escaped once and remembered (templates are a bounded set); the
    request id is `[A-Za-z0-9._:-]` only (checked on the way in) and trace ids are hex."""

    def __init__(self) -> None:
        self._second = -1
        self._ts_prefix = b""
        self._heads = {
            level: b'","level":"' + _LEVEL_NAMES[level].encode()
            + b'","msg":"request.completed","logger":"' + ACCESS_LOGGER.encode() + b'"'
            for level in (logging.INFO, logging.WARNING, logging.ERROR)
        }
        self._routes: dict[str, bytes] = {}
        # (method, path) -> `,"method":..,"path":..`: client text, so bounded; a service
        # answers a few paths most of the time, and escaping one is most of a line's cost.
        self._requests: dict[tuple[str, str], bytes] = {}
        # The User-Agent's first 200 characters -> `,"userAgent":..`: a few clients make most
        # requests, and redacting and escaping one costs more than the rest of the line.
        self._agents: dict[str, bytes] = {}

    def render(self, level: int, method: str, path: str, status: int, duration_ms: float,
               ctx: RequestContext | None, created: float, client_ip: str | None = None,
               user_agent: str | None = None) -> bytes:
        second = int(created)
        if second != self._second:
            self._second = second
            self._ts_prefix = b'{"ts":"' + time.strftime(
                "%Y-%m-%dT%H:%M:%S.", time.gmtime(second)).encode()
        parts = [self._ts_prefix, b"%03dZ" % int((created - second) * 1000), self._heads[level]]
        if ctx is not None:
            parts += (b',"requestId":"', ctx.request_id.encode(), b'"')
            if ctx.route is not None:
                route = self._routes.get(ctx.route)
                if route is None:
                    if len(self._routes) > 4096:  # bounded by the route table; a guard only
                        self._routes.clear()
                    route = self._routes[ctx.route] = b',"route":' + _json_string(ctx.route)
                parts.append(route)
            if ctx.user_id is not None:
                parts += (b',"userId":', _json_string(ctx.user_id))
            if ctx.trace_id is not None:
                parts += (b',"traceId":"', ctx.trace_id.encode(), b'","spanId":"',
                          str(ctx.span_id).encode(), b'"')
        path = path[:256]
        key = (method, path)
        request = self._requests.get(key)
        if request is None:
            if len(self._requests) >= 1024:
                self._requests.clear()
            request = self._requests[key] = (b',"method":' + _json_string(method) + b',"path":'
                                             + _json_string(path))
        # %.3f: the value round(ms, 3) would give, at a third of the cost (one more digit or
        # two of text: 1.500, not 1.5; the same JSON number)
        parts += (request, b',"statusCode":%d,"durationMs":%.3f' % (status, duration_ms))
        if client_ip is not None:  # an address (checked by ipaddress) or the socket's peer
            parts += (b',"clientIp":', _json_string(client_ip))
        if user_agent is not None:
            user_agent = user_agent[:USER_AGENT_MAX]  # before the lookup: 10 kB hash slowly
            agent = self._agents.get(user_agent)
            if agent is None:
                if len(self._agents) >= 1024:
                    self._agents.clear()
                agent = self._agents[user_agent] = (
                    b',"userAgent":' + _json_string(user_agent_text(user_agent)))
            parts.append(agent)
        parts.append(b"}\n")
        return b"".join(parts)


_access_template = _AccessTemplate()


def access_line(method: str, path: str, status: int, duration_ms: float,
                ctx: RequestContext | None = None, client_ip: str | None = None,
                user_agent: str | None = None) -> None:
    """The `request.completed` line, one per request (`ctx`: the request's, when the caller
    has it at hand; else the current one). `client_ip`: the trusted client address;
    `user_agent`: the header as received (cut, redacted and escaped here); either is left out
    of the line when None."""
    level = logging.INFO if status < 500 else access_level(status)
    if _writer is None or not _access.isEnabledFor(level):
        return
    _writer.write(_access_template.render(
        level, method, path, status, duration_ms, ctx or current_request.get(), time.time(),
        client_ip, user_agent))


def setup_logging(level: str, stream: IO[str] | None = None) -> None:
    """Route every logger (ours, aiohttp's, pymongo's) through one JSON writer."""
    global _writer
    if _writer is None:
        atexit.register(flush_logs)
    else:
        _writer.flush()
    _writer = LineWriter(stream or sys.stdout)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(JsonHandler(_writer))
    root.setLevel(_LEVELS[level])
    # aiohttp's access log is replaced by our single request.completed line.
    logging.getLogger("aiohttp.access").disabled = True
    # pymongo's command log carries whole documents (password hashes among them): never emit it.
    logging.getLogger("pymongo.command").setLevel(logging.WARNING)
    if level != "debug":
        logging.getLogger("pymongo").setLevel(logging.WARNING)


def flush_logs() -> None:
    if _writer is not None:
        _writer.flush()


def get_logger(name: str = "app") -> logging.Logger:
    return logging.getLogger(name)
