"""The OpenAPI document: valid 3.1, generated from the router, served at /openapi.json. (The
example domain's request bodies: tests/content/test_openapi_bodies.py.)"""

from openapi_spec_validator import validate

from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import build_document
from tests.conftest import make_settings
from tests.helpers import core_features


def router_routes(app) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        # HEAD comes with GET, OPTIONS is the CORS preflight every resource answers.
        if route.method not in ("HEAD", "OPTIONS")
        and not route.resource.canonical.startswith("/__test__")
    }


def document_routes(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1():
    document = build_document(create_app(make_settings())[OPERATIONS])
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_router_and_document_list_the_same_routes():
    app = create_app(make_settings())
    routes = router_routes(app)
    assert routes == document_routes(build_document(app[OPERATIONS]))
    assert {("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics")} <= routes


async def test_served_at_openapi_json(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/openapi.json")
    assert response.status == 200
    served = await response.json()
    assert document_routes(served) == router_routes(client.app)


def test_query_parameters_come_from_the_validation_models():
    document = build_document(create_app(make_settings(), features=core_features())[OPERATIONS])
    (name,) = [p for p in document["paths"]["/hello"]["get"]["parameters"]
               if p.get("name") == "name"]
    assert name["in"] == "query" and name["required"] is False
    assert name["schema"]["maxLength"] == 64 and "pattern" in name["schema"]
