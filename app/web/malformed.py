"""The answer to bytes that are not HTTP. aiohttp's parser rejects them before any middleware runs
and answers with its own plain-text page, which quotes the offending bytes (a fragment of an
Authorization header included). This answer is our envelope instead: a fresh request id, the
security headers, a fixed message, and nothing the client sent."""

from __future__ import annotations

import orjson
from aiohttp import web

from app.domain.ids import new_request_id
from app.web.middlewares import REQUEST_ID_HEADER

_MESSAGES = {
    400: ("validation.failed", "The request is not valid HTTP"),
    413: ("request.too_large", "The request head is too large"),
    431: ("request.too_large", "The request head is too large"),
}


def malformed_response(status: int) -> web.Response:
    code, message = _MESSAGES.get(status, ("internal", "Internal server error"))
    request_id = new_request_id()
    body = {"error": {"code": code, "message": message, "details": []},
            "meta": {"requestId": request_id}}
    response = web.Response(status=status, body=orjson.dumps(body),
                            content_type="application/json")
    response.headers[REQUEST_ID_HEADER] = request_id
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.force_close()
    return response
