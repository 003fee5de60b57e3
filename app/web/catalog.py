"""`GET /catalog` and `GET /meta`: served from memory as ready-made bytes, with strong ETags."""

from __future__ import annotations

import hashlib

import orjson
from aiohttp import web

from app import __version__
from app.domain.content.schemas import CatalogOut, MetaOut
from app.identity import NAME
from app.web.conditional import cached_json
from app.web.example_keys import CATALOG
from app.web.keys import SETTINGS
from app.web.openapi import AVAILABILITY, LATENCY, Operation, route

API_VERSION = "1"


async def catalog(request: web.Request) -> web.Response:
    snapshot = await request.app[CATALOG].get()
    return cached_json(
        request, snapshot.body, snapshot.etag, request.app[SETTINGS].catalog_cache_control
    )


class _MetaDocument:
    """/meta changes only with the catalog version: render it once per version."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._body = b""
        self._etag = ""

    def render(self, request: web.Request) -> tuple[bytes, str]:
        snapshot = request.app[CATALOG].snapshot
        version = snapshot.version if snapshot is not None else None
        key = version or ""
        if key != self._key or not self._body:
            settings = request.app[SETTINGS]
            self._body = orjson.dumps({
                "service": NAME,
                "version": __version__,
                "apiVersion": API_VERSION,
                "catalogVersion": version,
                "features": {"selfRegistration": settings.auth_allow_self_registration},
            })
            self._etag = '"' + hashlib.sha256(self._body).hexdigest()[:32] + '"'
            self._key = key
        return self._body, self._etag


def setup_routes(app: web.Application) -> None:
    document = _MetaDocument()

    async def meta(request: web.Request) -> web.Response:
        body, etag = document.render(request)
        return cached_json(request, body, etag, request.app[SETTINGS].catalog_cache_control)

    route(app, Operation("GET", "/catalog", "Active tags with counts of active items", "catalog",
                         response=CatalogOut, conditional=True, errors=(503,),
                         slos=(AVAILABILITY, LATENCY)), catalog)
    route(app, Operation("GET", "/meta", "Service, API and catalog versions; feature flags",
                         "catalog", response=MetaOut, conditional=True,
                         slos=(AVAILABILITY, LATENCY)), meta)
