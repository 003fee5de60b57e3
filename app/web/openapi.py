"""The OpenAPI 3.1 document, generated from the routes as they are registered.

Each route is added through `route(app, Operation(...), handler)`, which registers the handler
and records the operation; `/openapi.json` renders every recorded operation with JSON Schemas
generated from the very pydantic models the handlers validate with. Nothing is kept by hand in
parallel, and a test checks that the router and the document list the same routes.

Each operation also names the SLOs its requests count toward (`slos`, shown as `x-slos` in the
document); `make generate` builds the SLI selectors of the alert rules, dashboards and Sloth
spec from them, so a new route is in the availability SLO by default. Probes (routes tagged
`operations`) are outside every SLO: their 503s are designed answers (draining, a database
outage), their traffic comes from orchestrators, not users, and HealthEndpointErrors watches
their 500s. Requests that match no route (`__unmatched__`) are in no SLO either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from app import __version__
from app.identity import DESCRIPTION, NAME
from app.web.errors import STATUS_BY_CODE
from app.web.handler import Handler
from app.web.keys import OPERATIONS

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}]+)}")
# The SLOs a route can count toward; service.yml gives their objectives.
AVAILABILITY = "availability"  # not 5xx
LATENCY = "latency"  # answered within service.yml's slos.latency.threshold_seconds
SLOS = (AVAILABILITY, LATENCY)
_STATUS_TEXT = {
    200: "OK", 201: "Created", 204: "No content", 304: "Not modified (the ETag matches)",
    400: "Invalid request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
    409: "Conflict", 413: "Body too large", 415: "Unsupported media type",
    429: "Rate limited", 503: "Unavailable (dependency down, draining, or not ready)",
}


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    response: type[BaseModel] | None = None  # the `data` of a success envelope; None: no body
    status: int = 200
    many: bool = False  # `data` is a list of `response`, with `meta.nextCursor`
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    auth: bool = False  # needs a bearer access token
    conditional: bool = False  # ETag / If-None-Match / 304
    raw: bool = False  # the body is not an envelope (the document itself)
    limited: bool = True  # rate limited: may answer 429
    # Its rate-limit bucket: "auth", the much stricter per-address one (RATE_LIMIT_AUTH_PER_MINUTE)
    # of the routes that check credentials, or the caller's usual one (app.web.ratelimit).
    limit: Literal["default", "auth"] = "default"
    content_type: str = "application/json"
    # The SLOs its requests count toward (see the module's docstring); () for probes.
    slos: tuple[str, ...] = (AVAILABILITY,)


def route(app: web.Application, operation: Operation, handler: Handler) -> None:
    unknown = set(operation.slos) - set(SLOS)
    if unknown:
        raise ValueError(f"{operation.method} {operation.path}: unknown SLO {sorted(unknown)}; "
                         f"known: {', '.join(SLOS)}")
    app.router.add_route(operation.method, operation.path, handler)
    app[OPERATIONS].append(operation)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]]


class Meta(BaseModel):
    requestId: str


class ListMeta(Meta):
    nextCursor: str | None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    meta: Meta


def _schemas(operations: list[Operation]) -> tuple[dict[Any, Any], dict[str, Any]]:
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {
        (ErrorEnvelope, "serialization"), (Meta, "serialization"), (ListMeta, "serialization")
    }
    for op in operations:
        if op.response is not None:
            models.add((op.response, "serialization"))
        if op.body is not None:
            models.add((op.body, "validation"))
    refs, definitions = models_json_schema(sorted(models, key=lambda m: m[0].__name__),
                                           ref_template=_REF)
    return refs, definitions.get("$defs", {})


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [{"$ref": "#/components/parameters/RequestId"}]
    for name in _PATH_PARAM.findall(op.path):
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "string", "minLength": 1}})
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=_REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            prop.pop("title", None)
            # Query values are strings on the wire; a nullable field is simply omitted.
            if "anyOf" in prop:
                prop = next(s for s in prop.pop("anyOf") if s.get("type") != "null") | {
                    k: v for k, v in prop.items() if k != "default"
                }
            params.append({"name": name, "in": "query", "required": name in required,
                           "schema": prop})
    if op.conditional:
        params.append({"name": "If-None-Match", "in": "header", "required": False,
                       "schema": {"type": "string"}})
    return params


def _success(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
    if op.response is None:
        return {"description": _STATUS_TEXT[op.status], "headers": headers}
    data = refs[(op.response, "serialization")]
    if op.raw:
        schema = data
    else:
        meta = {"$ref": _REF.format(model="ListMeta" if op.many else "Meta")}
        schema = {
            "type": "object",
            "required": ["data", "meta"],
            "properties": {"data": {"type": "array", "items": data} if op.many else data,
                           "meta": meta},
        }
    if op.conditional:
        headers |= {"ETag": {"schema": {"type": "string"}},
                    "Cache-Control": {"schema": {"type": "string"}}}
    return {"description": _STATUS_TEXT[op.status], "headers": headers,
            "content": {op.content_type: {"schema": schema}}}


def _operation_id(op: Operation) -> str:
    words = _PATH_PARAM.sub(r"by_\1", op.path).replace(".", "_").strip("/").split("/")
    return "_".join([op.method.lower(), *words])


def build_document(operations: list[Operation]) -> dict[str, Any]:
    refs, definitions = _schemas(operations)
    request_id = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
    error = {"description": "", "headers": request_id, "content": {
        "application/json": {"schema": {"$ref": _REF.format(model="ErrorEnvelope")}}}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        responses: dict[str, Any] = {str(op.status): _success(op, refs)}
        if op.conditional:
            responses["304"] = {"description": _STATUS_TEXT[304], "headers": request_id | {
                "ETag": {"schema": {"type": "string"}}}}
        for status in sorted({*op.errors, *((429,) if op.limited else ())}):
            responses[str(status)] = error | {"description": _STATUS_TEXT[status]}
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "tags": [op.tag],
            "parameters": _parameters(op),
            "responses": responses,
        }
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(op.body, "validation")]}}}
        if op.auth:
            operation["security"] = [{"bearer": []}]
        operation["x-slos"] = list(op.slos)
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": NAME,
            "version": __version__,
            "description": f"{DESCRIPTION}. Every response carries X-Request-Id; errors use "
            "the envelope with a stable code: "
            + ", ".join(f"`{code}` ({status})" for code, status in STATUS_BY_CODE.items()),
        },
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "parameters": {"RequestId": {
                "name": "X-Request-Id", "in": "header", "required": False,
                "description": "Kept when it matches ^[A-Za-z0-9._:-]{1,128}$, else replaced.",
                "schema": {"type": "string"}}},
            "headers": {"RequestId": {"description": "The request id (also meta.requestId).",
                                      "schema": {"type": "string"}}},
        },
    }


class OpenApiDocument(BaseModel):
    """The document itself, for its own entry (its shape is OpenAPI's, not ours)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


def setup_routes(app: web.Application) -> None:
    rendered: list[bytes] = []

    async def openapi(request: web.Request) -> web.Response:
        if not rendered:  # routes are final once the app serves
            rendered.append(orjson.dumps(build_document(request.app[OPERATIONS])))
        return web.Response(body=rendered[0], content_type="application/json")

    route(app, Operation("GET", "/openapi.json", "This document", "meta",
                         response=OpenApiDocument, raw=True), openapi)
