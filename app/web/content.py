"""Public content routes: `GET /content` (filters, cursor pagination) and `GET /content/{id}`.

The domain hands over each item's JSON ready-made (from the in-memory snapshot, or serialized
from the store), so the envelope is a join of bytes: the same bytes `json_ok` would write."""

from __future__ import annotations

import orjson
from aiohttp import web

from app.domain.content.schemas import ContentItemOut, ContentListQuery
from app.domain.validation import parse
from app.web.envelope import JSON, request_id
from app.web.example_keys import CONTENT
from app.web.openapi import AVAILABILITY, LATENCY, Operation, route


def _envelope(request: web.Request, data: bytes, meta: bytes = b"") -> web.Response:
    body = (b'{"data":' + data + b',"meta":{"requestId":' + orjson.dumps(request_id(request))
            + meta + b"}}")
    return web.Response(body=body, content_type=JSON)


async def list_content(request: web.Request) -> web.Response:
    query = parse(ContentListQuery, dict(request.query))
    page = await request.app[CONTENT].page(query)
    return _envelope(request, b"[" + b",".join(page.items) + b"]",
                     b',"nextCursor":' + orjson.dumps(page.next_cursor))


async def get_content(request: web.Request) -> web.Response:
    return _envelope(request, await request.app[CONTENT].item(request.match_info["id"]))


def setup_routes(app: web.Application) -> None:
    route(app, Operation("GET", "/content", "Active items, newest first, a page at a time",
                         "catalog", response=ContentItemOut, many=True, query=ContentListQuery,
                         errors=(400, 503), slos=(AVAILABILITY, LATENCY)), list_content)
    route(app, Operation("GET", "/content/{id}", "One active item", "catalog",
                         response=ContentItemOut, errors=(404, 503),
                         slos=(AVAILABILITY, LATENCY)), get_content)
