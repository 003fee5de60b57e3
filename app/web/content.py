"""Public content routes: `GET /content` (filters, cursor pagination) and `GET /content/{id}`."""

from __future__ import annotations

from aiohttp import web

from app.domain.content.models import item_json
from app.domain.content.schemas import ContentItemOut, ContentListQuery
from app.domain.validation import parse
from app.web.envelope import json_ok
from app.web.keys import CONTENT
from app.web.openapi import Operation, route


async def list_content(request: web.Request) -> web.Response:
    query = parse(ContentListQuery, dict(request.query))
    items, next_cursor = await request.app[CONTENT].browse(query)
    return json_ok(request, [item_json(item) for item in items], meta={"nextCursor": next_cursor})


async def get_content(request: web.Request) -> web.Response:
    item = await request.app[CONTENT].get_active(request.match_info["id"])
    return json_ok(request, item_json(item))


def setup_routes(app: web.Application) -> None:
    route(app, Operation("GET", "/content", "Active items, newest first, a page at a time",
                         "catalog", response=ContentItemOut, many=True, query=ContentListQuery,
                         errors=(400, 503)), list_content)
    route(app, Operation("GET", "/content/{id}", "One active item", "catalog",
                         response=ContentItemOut, errors=(404, 503)), get_content)
