"""The OpenAPI document: valid 3.1, generated from the router, served at /openapi.json."""

from openapi_spec_validator import validate

from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import build_document
from tests.conftest import make_settings


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
    assert ("GET", "/content/{id}") in routes and ("POST", "/admin/tags/{slug}/rename") in routes


def test_request_bodies_come_from_the_validation_models():
    document = build_document(create_app(make_settings())[OPERATIONS])
    schemas = document["components"]["schemas"]
    new_content = schemas["NewContent"]
    assert new_content["additionalProperties"] is False
    assert new_content["properties"]["title"]["maxLength"] == 200
    assert set(new_content["required"]) == {"title", "url", "tags"}
    post = document["paths"]["/admin/content"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert {"201", "400", "401", "403"} <= set(post["responses"])


async def test_served_at_openapi_json(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/openapi.json")
    assert response.status == 200
    served = await response.json()
    assert document_routes(served) == router_routes(client.app)
