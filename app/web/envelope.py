"""The JSON envelope every response uses: `{"data", "meta"}` on success, `{"error", "meta"}` on
failure, with `meta.requestId` equal to the `X-Request-Id` header."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from app.domain.errors import MalformedJson
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
    """The parsed body; aiohttp raises 413 past `client_max_size`, bad JSON is MalformedJson."""
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(details=[{"reason": str(exc)}]) from exc
