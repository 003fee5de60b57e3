"""The JSON envelope every response uses: `{"data", "meta"}` on success, `{"error", "meta"}` on
failure, with `meta.requestId` equal to the `X-Request-Id` header."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from app.domain.errors import MalformedJson, TooLarge, UnsupportedMediaType
from app.web.keys import REQUEST_CONTEXT

JSON = "application/json"


def request_id(request: web.Request) -> str:
    ctx = request.get(REQUEST_CONTEXT)
    return ctx.request_id if ctx is not None else ""


def json_ok(
    request: web.Request,
    data: Any,
    *,
    status: int = 200,
    meta: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"data": data, "meta": {"requestId": request_id(request), **(meta or {})}}
    return web.Response(
        body=orjson.dumps(body), status=status, content_type=JSON, headers=headers
    )


def json_error(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> web.Response:
    body = {
        "error": {"code": code, "message": message, "details": details or []},
        "meta": {"requestId": request_id(request)},
    }
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON)


async def read_json(request: web.Request) -> Any:
    """The parsed body of a JSON route. A declared length over the limit is refused before a
    byte is read (aiohttp also stops reading a chunked body at `client_max_size`); another
    content type is 415; bad JSON (or nesting deeper than orjson's 1024 levels) is 400."""
    if request.content_type != JSON:
        raise UnsupportedMediaType()
    length = request.content_length
    if length is not None and length > request.client_max_size:
        raise TooLarge()
    try:
        raw = await request.read()
    except (HttpProcessingError, web.RequestPayloadError):
        # The body's framing or encoding is broken (a bad chunk, gzip that is not gzip): the
        # client's fault, said as such, never a 500.
        raise MalformedJson("The request body could not be read: its framing or encoding is "
                            "invalid") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(details=[{"reason": str(exc)}]) from exc
