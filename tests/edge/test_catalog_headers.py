"""The example domain's conditional answers keep the edge's headers: security headers on a 304,
ETag and Cache-Control in their canonical case, and a primed catalog behind HSTS in production."""

from app.store.memory import MemoryStore
from app.web.app import create_app
from app.web.example_keys import CATALOG
from tests.conftest import make_settings
from tests.edge.test_cors_and_headers import EXTENSION, ORIGINS, SECURITY


async def test_security_headers_on_a_304(make_client):
    client = await make_client()
    etag = (await client.get("/catalog")).headers["ETag"]
    response = await client.get("/catalog", headers={"If-None-Match": etag})
    assert response.status == 304
    for name, value in SECURITY.items():
        assert response.headers[name] == value, name


async def test_conditional_header_names_go_out_in_their_canonical_case(make_client):
    client = await make_client(CORS_ALLOWED_ORIGINS=ORIGINS)
    response = await client.get("/catalog", headers={"Origin": EXTENSION})
    names = {name.decode() for name, _ in response.raw_headers}
    assert {"ETag", "Cache-Control", "Access-Control-Allow-Origin"} <= names


async def test_a_production_start_primes_the_catalog(aiohttp_client):
    settings = make_settings(APP_ENV="production", MONGO_URI="mongodb://db.internal/",
                             JWT_ACCESS_SECRET="Vq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sA",
                             JWT_REFRESH_SECRET="Aq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sV")
    client = await aiohttp_client(create_app(settings, store=MemoryStore()))
    response = await client.get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert client.app[CATALOG].primed
