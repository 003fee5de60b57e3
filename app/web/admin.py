"""Curation routes for the `curator` and `admin` roles: content items and tags."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.domain.auth.models import CURATORS
from app.domain.content.models import item_json, tag_json
from app.domain.content.schemas import (
    ContentChanges,
    ContentItemOut,
    NewContent,
    NewTag,
    TagOut,
    TagRename,
)
from app.domain.validation import parse
from app.web.authn import require_account
from app.web.envelope import json_ok, read_json
from app.web.example_keys import CONTENT
from app.web.handler import Handler
from app.web.openapi import Operation, route


async def create_content(request: web.Request) -> web.Response:
    await require_account(request, CURATORS)
    body = parse(NewContent, await read_json(request))
    return json_ok(request, item_json(await request.app[CONTENT].create(body)), status=201)


async def update_content(request: web.Request) -> web.Response:
    await require_account(request, CURATORS)
    body = parse(ContentChanges, await read_json(request))
    item = await request.app[CONTENT].update(request.match_info["id"], body)
    return json_ok(request, item_json(item))


async def delete_content(request: web.Request) -> web.Response:
    await require_account(request, CURATORS)
    await request.app[CONTENT].delete(request.match_info["id"])
    return web.Response(status=204)


async def create_tag(request: web.Request) -> web.Response:
    await require_account(request, CURATORS)
    body = parse(NewTag, await read_json(request))
    return json_ok(request, tag_json(await request.app[CONTENT].create_tag(body)), status=201)


async def rename_tag(request: web.Request) -> web.Response:
    await require_account(request, CURATORS)
    body = parse(TagRename, await read_json(request))
    tag = await request.app[CONTENT].rename_tag(request.match_info["slug"], body.slug, body.name)
    return json_ok(request, tag_json(tag))


def setup_routes(app: web.Application) -> None:
    guarded = (401, 403, 503)
    with_body = (*guarded, 400, 413, 415)

    def add(method: str, path: str, summary: str, handler: Handler, **spec: Any) -> None:
        route(app, Operation(method, path, summary, "curation", auth=True, **spec), handler)

    add("POST", "/admin/content", "Create a content item", create_content,
        response=ContentItemOut, status=201, body=NewContent, errors=with_body)
    add("PATCH", "/admin/content/{id}", "Change some fields of an item", update_content,
        response=ContentItemOut, body=ContentChanges, errors=(*with_body, 404))
    add("DELETE", "/admin/content/{id}", "Delete an item", delete_content, status=204,
        errors=(*guarded, 404))
    add("POST", "/admin/tags", "Create a tag", create_tag, response=TagOut, status=201,
        body=NewTag, errors=(*with_body, 409))
    add("POST", "/admin/tags/{slug}/rename", "Rename a tag and retag its items atomically",
        rename_tag, response=TagOut, body=TagRename, errors=(*with_body, 404, 409))
