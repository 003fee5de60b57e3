"""`python -m app users disable | enable | reset-password | set-roles`: what each does to logins,
refresh tokens, /me and the admin routes, the one log line each writes, and unknown emails. The
commands refuse the memory store, so they run against the test server (the service on the same
database); the domain's side of them (the races below) runs on both stores. A session an
operator ended is not reuse when its device presents it again. A login or a refresh racing with
an operator's command cannot keep a session either."""

from __future__ import annotations

import pytest

from app.bootstrap import build_auth
from app.domain.errors import InvalidCredentials, ValidationFailed
from app.web.app import create_app
from tests.auth.conftest import PASSWORD, AuthClient
from tests.conftest import make_settings
from tests.test_cli import mongo_store_fixture, run  # noqa: F401 (a fixture)
from tests.test_errors import assert_envelope

NEW_PASSWORD = "a new passphrase, 2026"


async def service(aiohttp_client, store) -> AuthClient:
    settings = make_settings(AUTH_ALLOW_SELF_REGISTRATION="true",
                             BOOTSTRAP_ADMIN_EMAIL="root@example.org",
                             BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)
    return AuthClient(await aiohttp_client(create_app(settings, store=store)))


@pytest.fixture
async def api(aiohttp_client, mongo_store) -> AuthClient:
    """The service on the database the commands run against (`run(mongo_settings, ...)`)."""
    return await service(aiohttp_client, mongo_store)


async def login(api: AuthClient, email: str, password: str = PASSWORD):
    return await api.post("/auth/login", json={"email": email, "password": password})


def bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


async def test_disable_refuses_login_refresh_and_me_then_enable(api, mongo_store, mongo_settings,
                                                                logs):
    session = await api.register("mallory@example.org")
    second = (await (await login(api, session.email)).json())["data"]

    code, [result] = await run(mongo_settings, "users", "disable", "--email", "Mallory@Example.org")

    user = await mongo_store.get_user_by_email("mallory@example.org")
    assert code == 0 and user.disabled
    assert result == {"user": user.id, "email": "mallory@example.org", "disabled": True,
                      "changed": True, "revokedTokens": 2}
    [line] = logs.find("user.disabled")
    assert (line["level"], line["userId"], line["revokedTokens"]) == ("info", user.id, 2)
    assert "mallory" not in logs.text  # ids only, never the email
    # A login is answered as a wrong password, the right password or not.
    wrong = await assert_envelope(await login(api, session.email, "wrong" * 4), 401,
                                  "auth.invalid_credentials")
    right = await assert_envelope(await login(api, session.email), 401,
                                  "auth.invalid_credentials")
    assert right["error"] == wrong["error"]
    assert logs.find("auth.login_failure")[-1]["disabled"] is True
    assert len(await mongo_store.list_user_refresh_tokens(user.id)) == 2  # no session was opened
    # Its refresh tokens were revoked by an operator: presenting one is no reuse.
    for token in (session.refresh, second["refreshToken"]):
        await assert_envelope(await api.refresh(token), 401, "auth.unauthorized")
    # The access token stays valid until it expires, except where the account is read.
    await assert_envelope(await api.me(session.access), 401, "auth.unauthorized")
    assert (await api.get("/content", headers=bearer(session.access))).status == 200

    code, [result] = await run(mongo_settings, "users", "disable", "--email", session.email)
    assert code == 0 and result["changed"] is False and result["revokedTokens"] == 0

    code, [result] = await run(mongo_settings, "users", "enable", "--email", session.email)
    assert code == 0 and result == {"user": user.id, "email": session.email, "disabled": False,
                                    "changed": True, "revokedTokens": 0}
    assert logs.find("user.enabled")[0]["userId"] == user.id
    again = await login(api, session.email)
    assert again.status == 200
    assert (await api.me((await again.json())["data"]["accessToken"])).status == 200
    # Enabling does not bring the revoked sessions back.
    await assert_envelope(await api.refresh(second["refreshToken"]), 401, "auth.unauthorized")
    assert not logs.find("auth.refresh.reused")


async def test_a_disabled_curator_loses_the_admin_routes_at_once(api, mongo_settings):
    root = (await (await login(api, "root@example.org")).json())["data"]["accessToken"]
    assert (await api.post("/admin/tags", json={"slug": "a", "name": "A"},
                           headers=bearer(root))).status == 201

    assert (await run(mongo_settings, "users", "disable", "--email", "root@example.org"))[0] == 0

    response = await api.post("/admin/tags", json={"slug": "b", "name": "B"},
                              headers=bearer(root))
    await assert_envelope(response, 401, "auth.unauthorized")


async def test_a_disabled_account_costs_a_login_what_a_wrong_password_costs(
    aiohttp_client, mongo_store, mongo_settings, monkeypatch
):
    """One argon2 verification against the account's own hash, and the failed-login budget
    spent as by a wrong password: neither the timing nor a throttle tells disabled apart."""
    from argon2 import PasswordHasher

    api = AuthClient(await aiohttp_client(create_app(make_settings(
        AUTH_ALLOW_SELF_REGISTRATION="true", AUTH_ACCOUNT_FAILURES_PER_15_MINUTES="5"),
        store=mongo_store)))
    session = await api.register("slow@example.org")
    await run(mongo_settings, "users", "disable", "--email", session.email)
    stored = (await mongo_store.get_user_by_email(session.email)).password_hash
    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self, hash, password):
        calls.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    statuses = [(await login(api, session.email)).status for _ in range(6)]

    assert calls == [stored] * 5  # the budget: 5 failures, then refused before any hashing
    assert statuses == [401] * 5 + [429]


async def test_reset_password(api, mongo_store, mongo_settings, logs):
    session = await api.register("forgetful@example.org")

    code, [result] = await run(mongo_settings, "users", "reset-password", "--email", session.email,
                               stdin=NEW_PASSWORD + "\n")

    user = await mongo_store.get_user_by_email(session.email)
    assert code == 0 and result == {"user": user.id, "email": session.email,
                                    "revokedTokens": 1}
    [line] = logs.find("user.password_reset")
    assert (line["userId"], line["revokedTokens"]) == (user.id, 1)
    await assert_envelope(await login(api, session.email), 401, "auth.invalid_credentials")
    assert (await login(api, session.email, NEW_PASSWORD)).status == 200
    await assert_envelope(await api.refresh(session.refresh), 401, "auth.unauthorized")
    assert NEW_PASSWORD not in logs.text and user.password_hash not in logs.text


async def test_reset_password_keeps_the_policy_and_changes_nothing_when_refused(
    api, mongo_settings, logs
):
    session = await api.register("weak@example.org")

    code, lines = await run(mongo_settings, "users", "reset-password", "--email", session.email,
                            stdin="short\n")

    assert code == 1 and lines == []
    [failed] = logs.find("cli.failed")
    assert failed["code"] == "validation.failed" and failed["details"][0]["field"] == "password"
    assert (await login(api, session.email)).status == 200  # the old password still works
    assert (await api.refresh(session.refresh)).status == 200  # and its session
    assert "short" not in logs.text


async def test_reset_password_from_a_file_with_windows_line_endings(api, mongo_settings):
    session = await api.register("crlf@example.org")

    code, _ = await run(mongo_settings, "users", "reset-password", "--email", session.email,
                        stdin=NEW_PASSWORD + "\r\n")

    assert code == 0
    assert (await login(api, session.email, NEW_PASSWORD)).status == 200


@pytest.mark.parametrize("stdin", [NEW_PASSWORD + "\r", "a new\tpassphrase, 2026\n",
                                   "\x1b[A" + NEW_PASSWORD + "\n"])
async def test_reset_password_refuses_control_characters(api, mongo_settings, logs, stdin):
    session = await api.register("control@example.org")

    code, lines = await run(mongo_settings, "users", "reset-password", "--email", session.email,
                            stdin=stdin)

    assert code == 1 and lines == []
    [failed] = logs.find("cli.failed")
    assert failed["code"] == "validation.failed" and failed["details"][0]["field"] == "password"
    assert "control character" in failed["details"][0]["reason"]
    assert "passphrase" not in logs.text
    assert (await login(api, session.email)).status == 200  # unchanged


async def test_set_roles(api, mongo_store, mongo_settings, logs):
    session = await api.register("editor@example.org")

    code, [result] = await run(mongo_settings, "users", "set-roles", "--email", session.email,
                               "--role", "curator", "--role", "user", "--role", "curator")

    user = await mongo_store.get_user_by_email(session.email)
    assert code == 0 and user.roles == ("curator", "user")
    assert result == {"user": user.id, "email": session.email, "roles": ["curator", "user"],
                      "previousRoles": ["user"], "revokedTokens": 1}
    [line] = logs.find("user.roles_changed")
    assert line["roles"] == ["curator", "user"] and line["previousRoles"] == ["user"]
    assert line["revokedTokens"] == 1
    await assert_envelope(await api.refresh(session.refresh), 401, "auth.unauthorized")
    access = (await (await login(api, session.email)).json())["data"]["accessToken"]
    me = await api.me(access)
    assert (await me.json())["data"]["roles"] == ["curator", "user"]
    assert (await api.post("/admin/tags", json={"slug": "c", "name": "C"},
                           headers=bearer(access))).status == 201


@pytest.mark.parametrize("argv", [
    ("disable",), ("enable",), ("reset-password",), ("set-roles", "--role", "admin")])
async def test_an_unknown_email_changes_nothing(api, mongo_store, mongo_settings, logs, argv):
    session = await api.register("known@example.org")
    before = await mongo_store.get_user_by_email(session.email)

    code, lines = await run(mongo_settings, "users", argv[0], "--email", "unknown@example.org",
                            *argv[1:], stdin=NEW_PASSWORD + "\n")

    assert code == 1 and lines == []
    [failed] = logs.find("cli.failed")
    assert failed["code"] == "resource.not_found" and "unknown@example.org" in failed["message"]
    assert failed["command"] == f"users {argv[0]}"
    assert await mongo_store.get_user_by_email(session.email) == before
    assert (await api.refresh(session.refresh)).status == 200


async def test_set_roles_refuses_unknown_roles_in_the_domain(store):
    auth = build_auth(make_settings(), store, lambda event, **fields: None)
    await auth.create_user("x@example.org", PASSWORD, ("user",))
    for roles in ((), ("owner",)):
        with pytest.raises(ValidationFailed):
            await auth.set_roles("x@example.org", roles)


class _OperatorMidLogin:
    """The store, with an operator's command landing after a login verified the password and
    before it opened its session: the command's revocation cannot see that session."""

    def __init__(self, store, command) -> None:
        self._store, self._command, self.ran = store, command, False

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def create_refresh_family(self, *args) -> None:
        if not self.ran:
            self.ran = True
            await self._command()
        await self._store.create_refresh_family(*args)


@pytest.mark.parametrize("command", ["disable_user", "reset_password"])
async def test_a_login_racing_an_operator_keeps_no_session(store, command):
    settings = make_settings()
    auth = build_auth(settings, store, lambda event, **fields: None)
    user = await auth.create_user("race@example.org", PASSWORD, ("user",))

    async def operator() -> None:
        operator_auth = build_auth(settings, store, lambda event, **fields: None)
        if command == "disable_user":
            await operator_auth.disable_user(user.email)
        else:
            await operator_auth.reset_password(user.email, NEW_PASSWORD)

    racing = _OperatorMidLogin(store, operator)
    with pytest.raises(InvalidCredentials):
        await build_auth(settings, racing, lambda event, **fields: None).login(user.email,
                                                                               PASSWORD)

    assert racing.ran
    tokens = await store.list_user_refresh_tokens(user.id)
    assert len(tokens) == 1 and tokens[0].revoked_at is not None  # opened, then revoked
    families = {token.family_id for token in tokens}
    assert not await store.extend_refresh_family(families.pop(), tokens[0].expires_at)


async def test_a_token_that_escaped_the_revocation_cannot_refresh(aiohttp_client, store):
    """An account disabled in the database by hand, its tokens left alone: the refresh reads
    the account, refuses, and ends that session (not a reuse: nothing was presented twice)."""
    from app.domain.ids import utcnow

    api = await service(aiohttp_client, store)  # no command: on both stores
    session = await api.register("by-hand@example.org")
    user = await store.get_user_by_email(session.email)
    await store.set_user_disabled(user.id, True, utcnow())

    await assert_envelope(await api.refresh(session.refresh), 401, "auth.unauthorized")

    await store.set_user_disabled(user.id, False, utcnow())
    # Ended because of an operator's change, so presenting it again is no reuse either.
    await assert_envelope(await api.refresh(session.refresh), 401, "auth.unauthorized")


# A session an operator ended, presented again by its device: no reuse, no alert.

OPERATOR_COMMANDS = {
    "users disable": ("users", "disable", "--email", "{email}"),
    "users reset-password": ("users", "reset-password", "--email", "{email}"),
    "users set-roles": ("users", "set-roles", "--email", "{email}", "--role", "curator"),
    "tokens revoke": ("tokens", "revoke", "--user", "{email}"),
}


async def reused_count(api: AuthClient) -> float:
    text = await (await api.get("/metrics")).text()
    [value] = [line.rsplit(" ", 1)[1] for line in text.splitlines()
               if line.startswith('auth_events_total{event="refresh_reused"}')]
    return float(value)


@pytest.fixture
def sentry_messages(monkeypatch) -> list[str]:
    from app.telemetry import sentry

    sent: list[str] = []
    monkeypatch.setattr(sentry, "capture_message", lambda message, *a, **k: sent.append(message))
    return sent


@pytest.mark.parametrize("command", OPERATOR_COMMANDS)
async def test_a_session_an_operator_ended_is_no_reuse(api, mongo_store, mongo_settings, logs,
                                                      sentry_messages, command):
    """Each device's next automatic refresh after an operator's revocation: 401
    auth.unauthorized, one info line, nothing counted as reuse, nothing sent to Sentry (a
    reuse would page RefreshTokenReuseSpike for every device of every account an operator
    touched)."""
    session = await api.register("ended@example.org")
    second = (await (await login(api, session.email)).json())["data"]["refreshToken"]
    argv = [arg.replace("{email}", session.email) for arg in OPERATOR_COMMANDS[command]]

    code, _ = await run(mongo_settings, *argv, stdin=NEW_PASSWORD + "\n")

    assert code == 0
    user = await mongo_store.get_user_by_email(session.email)
    assert {token.revoked_by for token in await mongo_store.list_user_refresh_tokens(user.id)} == {
        "operator"}
    for token in (session.refresh, second):
        body = await assert_envelope(await api.refresh(token), 401, "auth.unauthorized")
        assert "operator" in body["error"]["message"]
    ended = logs.find("auth.refresh.revoked")
    assert [(line["level"], line["userId"], line["revokedBy"]) for line in ended] == [
        ("info", user.id, "operator")] * 2
    assert not logs.find("auth.refresh.reused")
    assert not [line for line in logs.lines() if line["level"] == "error"]
    assert await reused_count(api) == 0 and sentry_messages == []


async def test_true_reuse_stays_reuse_in_a_family_an_operator_revoked(api, mongo_settings,
                                                                     logs, sentry_messages):
    session = await api.register("replayed@example.org")
    rotated = (await (await api.refresh(session.refresh)).json())["data"]["refreshToken"]

    assert (await run(mongo_settings, "tokens", "revoke", "--user", session.email))[0] == 0

    # The first token was rotated already: presenting it is reuse, whoever revoked it later.
    await assert_envelope(await api.refresh(session.refresh), 401, "auth.refresh.reused")
    assert logs.find("auth.refresh.reused")[0]["level"] == "error"
    assert await reused_count(api) == 1 and sentry_messages == ["auth.refresh.reused"]
    # Its successor was never rotated: the operator ended it.
    await assert_envelope(await api.refresh(rotated), 401, "auth.unauthorized")
    assert await reused_count(api) == 1


async def test_logout_and_reuse_revocations_stay_reuse_after_an_operator_revocation(
    api, mongo_settings
):
    session = await api.register("left@example.org")
    other = (await (await login(api, session.email)).json())["data"]["refreshToken"]
    rotated = (await (await api.refresh(other)).json())["data"]["refreshToken"]
    assert (await api.post("/auth/logout", json={"refreshToken": session.refresh})).status == 204
    await assert_envelope(await api.refresh(other), 401, "auth.refresh.reused")  # revokes `rotated`

    assert (await run(mongo_settings, "users", "disable", "--email", session.email))[0] == 0

    # Already revoked by the logout and by the reuse: the operator's revocation changed nothing.
    for token in (session.refresh, rotated):
        await assert_envelope(await api.refresh(token), 401, "auth.refresh.reused")


async def test_two_logins_racing_a_rehash_both_succeed(store):
    """After an argon2 parameter change, two correct logins at once: both rehash, one rehash
    lands; the other must not take the changed hash for an operator's reset."""
    import asyncio

    from argon2 import PasswordHasher

    from app.domain.auth.service import TokenPair
    from app.domain.ids import utcnow

    auth = build_auth(make_settings(), store, lambda event, **fields: None)
    user = await auth.create_user("twice@example.org", PASSWORD, ("user",))
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    assert await store.set_password_hash(user.id, old, utcnow())

    results = await asyncio.gather(auth.login(user.email, PASSWORD),
                                   auth.login(user.email, PASSWORD), return_exceptions=True)

    assert [type(result).__name__ for result in results] == ["TokenPair", "TokenPair"]
    assert (await store.get_user(user.id)).password_hash != old  # rehashed once
    for pair in results:
        assert isinstance(pair, TokenPair)
        await auth.refresh(pair.refresh_token)  # both sessions live
    assert (await auth.login(user.email, PASSWORD)).access_token


async def test_a_login_racing_set_roles_gets_a_session_with_the_new_roles(store):
    """Set-roles does not make the password wrong: the login's first session (old roles) is
    revoked and a new one opened with the roles the account has now."""
    import jwt

    settings = make_settings()
    auth = build_auth(settings, store, lambda event, **fields: None)
    user = await auth.create_user("promoted@example.org", PASSWORD, ("user",))

    async def operator() -> None:
        await build_auth(settings, store, lambda event, **fields: None).set_roles(
            user.email, ("curator",))

    racing = _OperatorMidLogin(store, operator)
    pair = await build_auth(settings, racing, lambda event, **fields: None).login(user.email,
                                                                                  PASSWORD)

    assert racing.ran
    assert auth.authenticate(pair.access_token).roles == ("curator",)
    tokens = await store.list_user_refresh_tokens(user.id)
    assert len(tokens) == 2
    live = [token for token in tokens if token.revoked_at is None]
    claims = jwt.decode(pair.refresh_token, options={"verify_signature": False})
    assert [token.family_id for token in live] == [claims["fam"]]
    assert (await auth.refresh(pair.refresh_token)).access_token


class _OperatorMidRefresh:
    """The store, with an operator's command landing after a refresh read the account and
    before it inserted the successor: the command's revocation cannot see the successor."""

    def __init__(self, store, command) -> None:
        self._store, self._command, self.ran = store, command, False

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def insert_refresh_token(self, token) -> None:
        if token.parent_jti is not None and not self.ran:
            self.ran = True
            await self._command()
        await self._store.insert_refresh_token(token)


@pytest.mark.parametrize("command", ["disable_user", "reset_password", "set_roles"])
async def test_a_refresh_racing_an_operator_keeps_no_session(store, command):
    from app.domain.errors import RefreshReused, Unauthorized

    settings = make_settings()
    events: list[str] = []
    auth = build_auth(settings, store, lambda event, **fields: events.append(event))
    user = await auth.create_user("refreshing@example.org", PASSWORD, ("user",))
    pair = await auth.login(user.email, PASSWORD)

    async def operator() -> None:
        operator_auth = build_auth(settings, store, lambda event, **fields: None)
        if command == "disable_user":
            await operator_auth.disable_user(user.email)
        elif command == "reset_password":
            await operator_auth.reset_password(user.email, NEW_PASSWORD)
        else:
            await operator_auth.set_roles(user.email, ("curator",))

    racing = _OperatorMidRefresh(store, operator)
    with pytest.raises(Unauthorized):
        await build_auth(settings, racing, lambda event, **fields: events.append(event)).refresh(
            pair.refresh_token)

    assert racing.ran
    tokens = await store.list_user_refresh_tokens(user.id)
    assert len(tokens) == 2  # the presented token and its successor, both revoked
    assert all(token.revoked_at is not None and token.revoked_by == "operator"
               for token in tokens)
    # Its device presents the token again: the operator ended it, no reuse.
    with pytest.raises(Unauthorized) as again:
        await auth.refresh(pair.refresh_token)
    assert not isinstance(again.value, RefreshReused)
    assert "refresh_reused" not in events and "refresh_rotated" not in events


async def test_a_refresh_racing_a_logins_rehash_keeps_its_session(store):
    """A login's rehash changes the hash too, but revokes nothing: no operator ran."""
    from app.domain.ids import utcnow

    settings = make_settings()
    auth = build_auth(settings, store, lambda event, **fields: None)
    user = await auth.create_user("rehashed@example.org", PASSWORD, ("user",))
    pair = await auth.login(user.email, PASSWORD)

    async def rehash() -> None:
        assert await store.set_password_hash(user.id, user.password_hash + "x", utcnow(),
                                             replaces=user.password_hash)

    racing = _OperatorMidRefresh(store, rehash)
    rotated = await build_auth(settings, racing, lambda event, **fields: None).refresh(
        pair.refresh_token)

    assert racing.ran
    assert (await auth.refresh(rotated.refresh_token)).access_token
