"""Hostile requests over a raw socket (client libraries refuse to send most of these bytes): no
credential, however malformed, and no client that goes away, is ever a 500. (Bytes that are not
HTTP, and bodies that break, are the core's: tests/edge/test_hostile_bytes.py.)"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from app.identity import NAME
from app.web.app import create_app
from tests.conftest import TEST_ENV, make_settings
from tests.edge.test_hostile_bytes import get, raw
from tests.test_errors import assert_envelope

ACCESS_SECRET = TEST_ENV["JWT_ACCESS_SECRET"]


def b64(value: bytes) -> bytes:
    return base64.urlsafe_b64encode(value).rstrip(b"=")


def forged(payload: bytes, header: bytes = b'{"alg":"HS256","typ":"JWT"}') -> bytes:
    """A token whose parts are whatever we say, signed with the real secret so only the content
    can be wrong."""
    signing_input = b64(header) + b"." + b64(payload)
    import hashlib
    import hmac

    signature = hmac.new(ACCESS_SECRET.encode(), signing_input, hashlib.sha256).digest()
    return signing_input + b"." + b64(signature)


def claims(**overrides) -> bytes:
    now = int(time.time())
    base = {"iss": NAME, "aud": "catalog-extension", "sub": "01H0000000000000000000000U",
            "jti": "01H0000000000000000000JTI0", "iat": now, "exp": now + 300,
            "typ": "access", "roles": ["admin"]}
    base.update(overrides)
    return json.dumps(base).encode()


# Credentials that cannot be decoded: bad encoding, bad base64, bad JSON, wrong claim types,
# absurd length. Each is an invalid token: anonymous on public routes, 401 on protected ones.
UNDECODABLE = {
    "invalid utf-8": b"Bearer \xff",
    "latin-1 bytes inside a token": b"Bearer eyJ\xe9\xff.eyJ.x",
    "bad base64": b"Bearer !!!.@@@.###",
    "header not JSON": b"Bearer " + b64(b"{not json") + b"." + b64(b"{}") + b".c2ln",
    "header JSON not an object": b"Bearer " + b64(b"[1,2]") + b"." + b64(b"{}") + b".c2ln",
    "payload not JSON": b"Bearer " + forged(b"\xff\xfe not json"),
    "payload a list": b"Bearer " + forged(b"[1,2,3]"),
    "exp a string": b"Bearer " + forged(claims(exp="tomorrow")),
    "iat a list": b"Bearer " + forged(claims(iat=[1])),
    "aud an object": b"Bearer " + forged(claims(aud={"a": 1})),
    "iss a number": b"Bearer " + forged(claims(iss=7)),
    "roles a string": b"Bearer " + forged(claims(roles="admin")),
    "sub a number": b"Bearer " + forged(claims(sub=5)),
    "typ a list": b"Bearer " + forged(claims(typ=["access"])),
    "huge exp": b"Bearer " + forged(claims(exp=10**30)),
    "kid a list in the header": b"Bearer " + forged(
        claims(), header=b'{"alg":"HS256","kid":[1]}'),
    "absurd length": b"Bearer " + b"A" * 7000,
    "scheme only": b"Bearer",
    "two tokens": b"Bearer a.b.c d.e.f",
    "basic scheme": b"Basic dXNlcjpwYXNz",
}

PUBLIC = {"/health": 200, "/ready": 200, "/metrics": 200, "/catalog": 200, "/content": 200,
          "/meta": 200, "/nope": 404}


@pytest.fixture
async def server(aiohttp_server):
    return await aiohttp_server(create_app(make_settings()))


@pytest.mark.parametrize("name", list(UNDECODABLE))
async def test_an_undecodable_credential_is_anonymous_on_public_routes(server, name):
    credential = UNDECODABLE[name]
    for path, expected in PUBLIC.items():
        status, headers, body = await raw(server.port, get(path, b"Authorization: " + credential))
        assert status == expected, (path, status, body[:300])
        assert "x-request-id" in headers
    status, headers, _ = await raw(server.port, get(
        "/catalog", b"Origin: chrome-extension://x", b"Access-Control-Request-Method: GET",
        b"Authorization: " + credential, method=b"OPTIONS"))
    assert status == 204


@pytest.mark.parametrize("name", list(UNDECODABLE))
async def test_an_undecodable_credential_is_401_on_protected_routes(server, name):
    credential = UNDECODABLE[name]
    # A validly signed token naming no account is 401 on /admin (the account is checked) and
    # 404 on /me ("the user no longer exists"); that one is left to /admin here.
    me = () if name == "huge exp" else (get("/me", b"Authorization: " + credential),)
    for request in (*me,
                    b"POST /admin/tags HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 30\r\n"
                    b"Authorization: " + credential + b"\r\n\r\n"
                    b'{"slug": "evil", "name": "Ev"}'):
        status, _, body = await raw(server.port, request)
        assert status == 401, body[:300]
        assert json.loads(body)["error"]["code"] == "auth.unauthorized"


async def test_undecodable_credentials_are_still_rate_limited(aiohttp_server):
    server = await aiohttp_server(create_app(make_settings(RATE_LIMIT_ANON_PER_MINUTE="3")))
    statuses = [(await raw(server.port, get("/catalog", b"Authorization: Bearer \xff")))[0]
                for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


async def test_a_well_formed_forged_token_is_the_control(server):
    # The table above is only meaningful if a correct token built the same way is accepted.
    token = jwt.encode(json.loads(claims()), ACCESS_SECRET, algorithm="HS256").encode()
    status, _, body = await raw(server.port, get(
        "/__test__/curators-only", b"Authorization: Bearer " + token))
    assert status == 200, body


async def test_head_works_on_the_example_routes(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings()))
    for path in ("/catalog", "/content", "/meta"):
        got = await client.get(path)
        head = await client.head(path)
        assert head.status == got.status == 200, path
        assert await head.read() == b""
        assert head.headers["X-Request-Id"]
    # HEAD follows GET's conditional rules too.
    etag = (await client.get("/catalog")).headers["ETag"]
    assert (await client.head("/catalog", headers={"If-None-Match": etag})).status == 304


async def test_errors_that_spent_budget_carry_the_ratelimit_headers(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(RATE_LIMIT_ANON_PER_MINUTE="50")))
    answers = [
        await client.get("/nope"),
        await client.get("/me"),
        await client.post("/admin/tags", json={"slug": "x", "name": "X"}),
        await client.get("/content", params={"limit": "100000"}),
        await client.delete("/catalog"),
    ]
    for response in answers:
        assert 400 <= response.status < 500, response.status
        assert response.headers["RateLimit-Limit"] == "50", response.status
        assert "RateLimit-Remaining" in response.headers
    remaining = [int(r.headers["RateLimit-Remaining"]) for r in answers]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]


async def test_login_error_answers_carry_the_auth_bucket_headers(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings(RATE_LIMIT_AUTH_PER_MINUTE="5")))
    response = await client.post("/auth/login", data=b"{", headers={
        "Content-Type": "application/json"})
    await assert_envelope(response, 400, "request.malformed_json")
    assert response.headers["RateLimit-Limit"] == "5"
