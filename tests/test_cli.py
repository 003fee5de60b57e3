"""The operator CLI against the store: create a user, list and revoke their refresh tokens."""

import argparse
import io
import subprocess
import sys

from app import cli
from app.web.app import create_app
from tests.auth.conftest import PASSWORD, AuthClient
from tests.conftest import make_settings
from tests.service import REPO
from tests.test_errors import assert_envelope


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def run(store, *argv: str, stdin: str = "") -> tuple[int, list[dict]]:
    lines: list[dict] = []
    code = await cli.run(parse(*argv), make_settings(), store=store,
                         stdin=io.StringIO(stdin), out=lines.append)
    return code, lines


async def test_create_user_then_log_in(aiohttp_client, store):
    code, lines = await run(store, "users", "create", "--email", "Ops@Example.org",
                            "--role", "admin", stdin=PASSWORD + "\n")
    assert code == 0
    assert lines[0]["email"] == "ops@example.org" and lines[0]["roles"] == ["admin"]
    client = await aiohttp_client(create_app(make_settings(), store=store))
    login = await client.post("/auth/login", json={"email": "ops@example.org",
                                                   "password": PASSWORD})
    assert login.status == 200


async def test_create_user_refuses_a_weak_password(store, capsys):
    code, lines = await run(store, "users", "create", "--email", "a@b.io", stdin="short\n")
    assert code == 1 and lines == []
    assert "validation.failed" in capsys.readouterr().err


async def test_list_and_revoke_every_token_of_a_user(aiohttp_client, store):
    api = AuthClient(await aiohttp_client(create_app(
        make_settings(AUTH_ALLOW_SELF_REGISTRATION="true"), store=store)))
    session = await api.register("victim@example.org")
    second = await api.post("/auth/login", json={"email": session.email, "password": PASSWORD})
    second_refresh = (await second.json())["data"]["refreshToken"]
    rotated = (await (await api.refresh(session.refresh)).json())["data"]["refreshToken"]

    code, listed = await run(store, "tokens", "list", "--user", "VICTIM@example.org")
    assert code == 0 and len(listed) == 3
    assert sum(1 for token in listed if token["usedAt"]) == 1

    user_id = (await store.get_user_by_email("victim@example.org")).id
    code, result = await run(store, "tokens", "revoke", "--user", user_id)  # by id this time
    assert code == 0 and result[0]["revoked"] == 3
    for token in (rotated, second_refresh):
        await assert_envelope(await api.refresh(token), 401, "auth.refresh.reused")
    _, after = await run(store, "tokens", "list", "--user", "victim@example.org")
    assert all(token["revokedAt"] for token in after)


async def test_unknown_user(store, capsys):
    code, _ = await run(store, "tokens", "revoke", "--user", "nobody@example.org")
    assert code == 1
    assert "resource.not_found" in capsys.readouterr().err


def test_cli_process_against_the_database(mongo_settings):
    env = {"PATH": "/usr/bin:/bin", "MONGO_URI": mongo_settings.mongo_uri.reveal(),
           "MONGO_DB": mongo_settings.mongo_db}

    def app(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", *argv], cwd=REPO, env=env,
                              input=stdin, capture_output=True, text=True, timeout=60)

    created = app("users", "create", "--email", "cli@example.org", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert '"email":"cli@example.org"' in created.stdout
    revoked = app("tokens", "revoke", "--user", "cli@example.org")
    assert revoked.returncode == 0, revoked.stderr
    assert '"revoked":0' in revoked.stdout
    duplicate = app("users", "create", "--email", "cli@example.org", stdin=PASSWORD + "\n")
    assert duplicate.returncode == 1
    assert "conflict" in duplicate.stderr


async def test_seed_demo_is_idempotent(store):
    code, lines = await run(store, "seed-demo")
    assert code == 0 and lines == [{"tagsCreated": 6, "itemsCreated": 30}]
    code, lines = await run(store, "seed-demo")
    assert lines == [{"tagsCreated": 0, "itemsCreated": 0}]
    counts = await store.active_counts_by_tag()
    assert len(counts) == 6 and sum(counts.values()) > 29
