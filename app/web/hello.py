"""`GET /hello?name=...`: the example route of a core-only service, the smallest thing that shows
the whole path: a pydantic query model (a bad name is a 400 `validation.failed` envelope), the
envelope with `meta.requestId`, and a documented `Operation` (so `/openapi.json`, the metrics,
the access line and the SLO rules all know it). Copy it for a service's first real route."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from app.domain.validation import VISIBLE, parse
from app.web.envelope import json_ok
from app.web.openapi import AVAILABILITY, LATENCY, Operation, route

NAME_MAX = 64


class HelloQuery(BaseModel):
    """Query string of GET /hello; unknown parameters are ignored (a cache-busting `?_=123`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # Words of visible characters, one space between them: nothing that could forge a log line.
    name: Annotated[str, StringConstraints(
        max_length=NAME_MAX, pattern=rf"^{VISIBLE}+(?: {VISIBLE}+)*$")] = "world"


class HelloOut(BaseModel):
    greeting: str


async def hello(request: web.Request) -> web.Response:
    query = parse(HelloQuery, dict(request.query))
    return json_ok(request, {"greeting": f"hello, {query.name}"})


def setup_routes(app: web.Application) -> None:
    route(app, Operation("GET", "/hello", "A greeting: the example route of the core", "example",
                         response=HelloOut, query=HelloQuery, errors=(400,),
                         slos=(AVAILABILITY, LATENCY)), hello)
