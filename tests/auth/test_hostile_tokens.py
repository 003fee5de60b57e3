"""Tokens crafted with pyjwt, independently of the code under test: every hostile one is 401."""

import base64
import json
import time
import warnings

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from app.identity import NAME
from app.web.app import create_app
from tests.auth.conftest import AuthClient
from tests.conftest import TEST_ENV, make_settings
from tests.test_errors import assert_envelope

ACCESS_SECRET = TEST_ENV["JWT_ACCESS_SECRET"]
REFRESH_SECRET = TEST_ENV["JWT_REFRESH_SECRET"]
WRONG_SECRET = "Wq9pX2mZ7kL4vB8nR1tY6cD3fG0hJ5sAzz"


def claims(typ: str = "access", **overrides):
    now = int(time.time())
    base = {
        "iss": NAME, "aud": "catalog-extension", "sub": "01H00000000000000000000000",
        "jti": "01H0000000000000000000JTI0", "iat": now, "exp": now + 300, "typ": typ,
    }
    if typ == "access":
        base["roles"] = ["admin"]
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def hs512(payload: dict, key: str) -> str:
    # The real secret is shorter than HS512 wants; that is the point, so hush pyjwt's warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm="HS512")


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def alg_none() -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."


def tampered() -> str:
    token = jwt.encode(claims(roles=["user"]), ACCESS_SECRET, algorithm="HS256")
    header, _, signature = token.split(".")
    return f"{header}.{b64(claims(roles=['admin']))}.{signature}"


HOSTILE_ACCESS = {
    "alg none": alg_none,
    "HS512": lambda: hs512(claims(), ACCESS_SECRET),
    "wrong secret": lambda: jwt.encode(claims(), WRONG_SECRET, algorithm="HS256"),
    "not yet valid": lambda: jwt.encode(
        claims(nbf=int(time.time()) + 600), ACCESS_SECRET, algorithm="HS256"),
    "issued in the future": lambda: jwt.encode(
        claims(iat=int(time.time()) + 600), ACCESS_SECRET, algorithm="HS256"),
    "wrong audience": lambda: jwt.encode(claims(aud="someone-else"), ACCESS_SECRET, "HS256"),
    "wrong issuer": lambda: jwt.encode(claims(iss="evil"), ACCESS_SECRET, algorithm="HS256"),
    "tampered payload": tampered,
    "no typ": lambda: jwt.encode(claims(typ=None), ACCESS_SECRET, algorithm="HS256"),
    "no exp": lambda: jwt.encode(claims(exp=None), ACCESS_SECRET, algorithm="HS256"),
    "refresh typ signed with the access secret": lambda: jwt.encode(
        claims("refresh"), ACCESS_SECRET, algorithm="HS256"),
    "access claims signed with the refresh secret": lambda: jwt.encode(
        claims(), REFRESH_SECRET, algorithm="HS256"),
    "garbage": lambda: "not-a-token",
}


@pytest.mark.parametrize("name", list(HOSTILE_ACCESS))
async def test_hostile_access_tokens_are_401(api, name):
    token = HOSTILE_ACCESS[name]()
    response = await api.get("/__test__/curators-only",
                             headers={"Authorization": f"Bearer {token}"})
    await assert_envelope(response, 401, "auth.unauthorized")


async def test_expired_access_token_says_so(api):
    token = jwt.encode(claims(iat=int(time.time()) - 1000, exp=int(time.time()) - 100),
                       ACCESS_SECRET, algorithm="HS256")
    response = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    await assert_envelope(response, 401, "auth.token_expired")


async def test_a_well_formed_token_passes_the_guard(api):
    # The control for the table above: the same claims, signed properly, are accepted.
    token = jwt.encode(claims(), ACCESS_SECRET, algorithm="HS256")
    response = await api.get("/__test__/curators-only",
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200


async def test_refresh_token_is_not_an_access_token(api):
    session = await api.register()
    response = await api.me(session.refresh)
    await assert_envelope(response, 401, "auth.unauthorized")


async def test_access_token_is_not_a_refresh_token(api):
    session = await api.register()
    await assert_envelope(await api.refresh(session.access), 401, "auth.unauthorized")


@pytest.mark.parametrize("name", ["alg none", "HS512", "wrong secret", "wrong audience"])
async def test_hostile_refresh_tokens_are_401(api, name):
    forged = {
        "alg none": lambda: f"{b64({'alg': 'none'})}.{b64(claims('refresh', fam='F'))}.",
        "HS512": lambda: hs512(claims("refresh", fam="F"), REFRESH_SECRET),
        "wrong secret": lambda: jwt.encode(claims("refresh", fam="F"), WRONG_SECRET, "HS256"),
        "wrong audience": lambda: jwt.encode(
            claims("refresh", fam="F", aud="x"), REFRESH_SECRET, "HS256"),
    }[name]()
    await assert_envelope(await api.refresh(forged), 401, "auth.unauthorized")


async def test_previous_secret_still_verifies_during_rotation(aiohttp_client):
    old_access, old_refresh = ACCESS_SECRET, REFRESH_SECRET
    new_access = "N" * 8 + "ew-access-Zq8kW2pL9xM4vB7nR1tY6c"
    new_refresh = "N" * 8 + "ew-refresh-Hq2wE7rT4yU9iO1pA6sD3"
    # Before the rotation: a session under the old secrets.
    before = AuthClient(await aiohttp_client(create_app(make_settings(
        AUTH_ALLOW_SELF_REGISTRATION="true"))))
    session = await before.register()
    from app.web.keys import STORE

    store = before.client.app[STORE]
    # After: new secrets sign, the old ones only verify.
    rotated = AuthClient(await aiohttp_client(create_app(make_settings(
        JWT_ACCESS_SECRET=new_access, JWT_ACCESS_SECRET_PREVIOUS=old_access,
        JWT_REFRESH_SECRET=new_refresh, JWT_REFRESH_SECRET_PREVIOUS=old_refresh,
    ), store=store)))
    assert (await rotated.me(session.access)).status == 200
    response = await rotated.refresh(session.refresh)
    assert response.status == 200
    fresh = (await response.json())["data"]
    # New tokens are signed with the new secret only.
    jwt.decode(fresh["accessToken"], new_access, algorithms=["HS256"],
               audience="catalog-extension")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(fresh["accessToken"], old_access, algorithms=["HS256"],
                   audience="catalog-extension")

    # Once the previous secret is dropped, tokens signed with it stop verifying.
    after = AuthClient(await aiohttp_client(create_app(make_settings(
        JWT_ACCESS_SECRET=new_access, JWT_REFRESH_SECRET=new_refresh), store=store)))
    await assert_envelope(await after.me(session.access), 401, "auth.unauthorized")
    assert (await after.me(fresh["accessToken"])).status == 200
