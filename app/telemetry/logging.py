"""JSON logs, one object per line on stdout, with the request context attached.

The request middleware binds a `RequestContext` in a context variable; every log call made while
that request is handled (in our code or a library's) carries its fields without passing them
around. Extra fields go through `extra=fields(...)`.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any

import orjson
from aiohttp.http_exceptions import HttpProcessingError

from app.telemetry.redact import redact_text

_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "fatal",
}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}


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


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def fields(**values: Any) -> dict[str, Any]:
    """`log.info("msg", extra=fields(durationMs=3))`: extra fields for one line."""
    return {"fields": values}


def _timestamp(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (
        f".{int((created - seconds) * 1000):03d}Z"
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            return self._malformed_http(record, exc)
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "msg": record.getMessage(),
        }
        if record.name != "app":
            line["logger"] = record.name
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
        extra = getattr(record, "fields", None)
        if extra:
            line.update(extra)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = {
                "type": record.exc_info[0].__name__,
                "stack": redact_text("".join(traceback.format_exception(*record.exc_info))),
            }
        return orjson.dumps(line, default=str).decode()

    def _malformed_http(self, record: logging.LogRecord, exc: HttpProcessingError) -> str:
        # aiohttp's parser rejects bytes that are not HTTP before any middleware runs and logs
        # them at error with a stack. That is scanner noise, not a fault of ours: one warn line.
        line = {
            "ts": _timestamp(record.created),
            "level": "warn",
            "msg": "request.malformed_http",
            "logger": record.name,
            "statusCode": exc.code,
            "reason": exc.message.strip().splitlines()[0][:200] if exc.message else "",
        }
        return orjson.dumps(line).decode()


def setup_logging(level: str, stream: IO[str] | None = None) -> None:
    """Route every logger (ours, aiohttp's, pymongo's) through one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    # aiohttp's access log is replaced by our single request.completed line.
    logging.getLogger("aiohttp.access").disabled = True
    # pymongo's command log carries whole documents (password hashes among them): never emit it.
    logging.getLogger("pymongo.command").setLevel(logging.WARNING)
    if level != "debug":
        logging.getLogger("pymongo").setLevel(logging.WARNING)


def get_logger(name: str = "app") -> logging.Logger:
    return logging.getLogger(name)
