"""Curation routes for the `curator` and `admin` roles: content items and tags."""

from __future__ import annotations

from aiohttp import web

from app.domain.auth.models import CURATORS
from app.domain.content.models import item_json, tag_json
from app.domain.content.schemas import ContentChanges, NewContent, NewTag, TagRename
from app.domain.validation import parse
from app.web.authn import require
from app.web.envelope import json_ok, read_json
from app.web.keys import CONTENT


async def create_content(request: web.Request) -> web.Response:
    require(request, CURATORS)
    body = parse(NewContent, await read_json(request))
    return json_ok(request, item_json(await request.app[CONTENT].create(body)), status=201)


async def update_content(request: web.Request) -> web.Response:
    require(request, CURATORS)
    body = parse(ContentChanges, await read_json(request))
    item = await request.app[CONTENT].update(request.match_info["id"], body)
    return json_ok(request, item_json(item))


async def delete_content(request: web.Request) -> web.Response:
    require(request, CURATORS)
    await request.app[CONTENT].delete(request.match_info["id"])
    return web.Response(status=204)


async def create_tag(request: web.Request) -> web.Response:
    require(request, CURATORS)
    body = parse(NewTag, await read_json(request))
    return json_ok(request, tag_json(await request.app[CONTENT].create_tag(body)), status=201)


async def rename_tag(request: web.Request) -> web.Response:
    require(request, CURATORS)
    body = parse(TagRename, await read_json(request))
    tag = await request.app[CONTENT].rename_tag(request.match_info["slug"], body.slug, body.name)
    return json_ok(request, tag_json(tag))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/admin/content", create_content)
    app.router.add_patch("/admin/content/{id}", update_content)
    app.router.add_delete("/admin/content/{id}", delete_content)
    app.router.add_post("/admin/tags", create_tag)
    app.router.add_post("/admin/tags/{slug}/rename", rename_tag)
