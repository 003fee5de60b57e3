"""Register, login, me: the account flows and their failures."""

import pytest

from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.test_errors import assert_envelope


async def test_register_returns_a_token_pair_and_me_works(api):
    response = await api.post(
        "/auth/register", json={"email": "  New.User@Example.ORG ", "password": PASSWORD}
    )
    assert response.status == 201
    assert response.headers["Cache-Control"] == "no-store"
    data = (await response.json())["data"]
    assert data["tokenType"] == "Bearer" and data["expiresIn"] == 900
    me = await api.me(data["accessToken"])
    assert me.status == 200
    body = (await me.json())["data"]
    assert body["email"] == "new.user@example.org"  # normalized
    assert body["roles"] == ["user"]
    assert set(body) == {"id", "email", "roles"}  # never the hash


async def test_registration_disabled(aiohttp_client):
    client = await aiohttp_client(create_app(make_settings()))
    response = await client.post("/auth/register", json={"email": "a@b.io", "password": PASSWORD})
    await assert_envelope(response, 403, "auth.registration_disabled")


async def test_duplicate_email_is_409_case_insensitive(api):
    await api.register("dup@example.org")
    response = await api.post(
        "/auth/register", json={"email": "DUP@example.org", "password": PASSWORD}
    )
    await assert_envelope(response, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.io", "password": "x" * 11}, "password"),
        ({"email": "a@b.io", "password": "x" * 257}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": {"$gt": ""}, "password": PASSWORD}, "email"),
        ({"email": "a@b.io", "password": {"$ne": None}}, "password"),
        ({"email": "a@b.io"}, "password"),
        ({"email": "a@b.io", "password": PASSWORD, "roles": ["admin"]}, "roles"),
        ({"email": ["a@b.io"], "password": PASSWORD}, "email"),
    ],
)
async def test_register_validation_names_the_field(api, body, field):
    response = await api.post("/auth/register", json=body)
    error = await assert_envelope(response, 400, "validation.failed")
    assert field in [detail["field"] for detail in error["error"]["details"]]


async def test_body_that_is_not_an_object(api):
    response = await api.post("/auth/login", json=["a@b.io", PASSWORD])
    error = await assert_envelope(response, 400, "validation.failed")
    assert error["error"]["details"][0]["field"] == "body"


@pytest.mark.parametrize(
    "body",
    [
        {"email": {"$gt": ""}, "password": {"$gt": ""}},
        {"email": "a@b.io", "password": {"$regex": ".*"}},
    ],
)
async def test_login_operator_objects_are_validation_errors(api, body):
    await api.register("a@b.io")
    await assert_envelope(await api.post("/auth/login", json=body), 400, "validation.failed")


async def test_login_success_and_failures_look_alike(api):
    session = await api.register("login@example.org")
    ok = await api.post("/auth/login", json={"email": "LOGIN@example.org", "password": PASSWORD})
    assert ok.status == 200
    assert (await api.me((await ok.json())["data"]["accessToken"])).status == 200

    wrong = await api.post("/auth/login", json={"email": session.email, "password": "wrong" * 4})
    unknown = await api.post("/auth/login", json={"email": "nobody@x.io", "password": PASSWORD})
    wrong_body = await assert_envelope(wrong, 401, "auth.invalid_credentials")
    unknown_body = await assert_envelope(unknown, 401, "auth.invalid_credentials")
    assert wrong_body["error"] == unknown_body["error"]


async def test_unknown_email_still_pays_for_a_hash_check(api, monkeypatch):
    # Equal timing by construction: both paths run one argon2 verification.
    from argon2 import PasswordHasher

    calls = []
    original = PasswordHasher.verify

    def counting(self, hash, password):
        calls.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    await api.register("known@example.org")
    await api.post("/auth/login", json={"email": "known@example.org", "password": "w" * 12})
    await api.post("/auth/login", json={"email": "unknown@example.org", "password": "w" * 12})
    assert len(calls) == 2
    assert all(hash.startswith("$argon2id$") for hash in calls)


async def test_me_requires_a_token(api):
    await assert_envelope(await api.get("/me"), 401, "auth.unauthorized")
    response = await api.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    await assert_envelope(response, 401, "auth.unauthorized")


async def test_role_guard(api):
    session = await api.register()
    response = await api.get(
        "/__test__/curators-only", headers={"Authorization": f"Bearer {session.access}"}
    )
    await assert_envelope(response, 403, "auth.forbidden")
    await assert_envelope(await api.get("/__test__/curators-only"), 401, "auth.unauthorized")


async def test_bootstrap_admin_created_once_and_never_overwritten(aiohttp_client):
    env = {"BOOTSTRAP_ADMIN_EMAIL": "root@example.org", "BOOTSTRAP_ADMIN_PASSWORD": PASSWORD}
    app = create_app(make_settings(**env))
    client = await aiohttp_client(app)
    login = await client.post("/auth/login", json={"email": "root@example.org",
                                                   "password": PASSWORD})
    assert login.status == 200
    access = (await login.json())["data"]["accessToken"]
    guarded = await client.get(
        "/__test__/curators-only", headers={"Authorization": f"Bearer {access}"}
    )
    assert guarded.status == 200

    # A second start with another password, on the same store, changes nothing.
    from app.web.keys import STORE

    second = await aiohttp_client(create_app(
        make_settings(BOOTSTRAP_ADMIN_EMAIL="root@example.org",
                      BOOTSTRAP_ADMIN_PASSWORD="another password entirely"),
        store=app[STORE],
    ))
    old = await second.post("/auth/login", json={"email": "root@example.org",
                                                 "password": PASSWORD})
    new = await second.post("/auth/login", json={"email": "root@example.org",
                                                 "password": "another password entirely"})
    assert old.status == 200 and new.status == 401
