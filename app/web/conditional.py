"""Conditional GET: strong ETags compared the way If-None-Match asks (weak comparison, lists,
and `*`), answering 304 with the validators and no body."""

from __future__ import annotations

from aiohttp import web

from app.web.envelope import request_id


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


def cached_json(
    request: web.Request, data: bytes, etag: str, cache_control: str
) -> web.Response:
    """The envelope around ready-made `data` bytes, or 304 when the client has this version.
    The request id holds only [A-Za-z0-9._:-] (checked on the way in): no escaping needed."""
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    body = b'{"data":' + data + b',"meta":{"requestId":"' + request_id(request).encode() + b'"}}'
    return web.Response(body=body, headers=headers, content_type="application/json")
