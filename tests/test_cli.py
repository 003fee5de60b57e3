"""The operator CLI against the store: create a user, list and revoke their refresh tokens; and
every failure, a database that is unreachable or refuses the credentials included, is JSON
lines only (one error line naming the reason and the variable to check), never a traceback.
Without MONGO_URI the commands on accounts, tokens and the catalog refuse to run rather than
work on a throwaway memory store, so these tests run them against the test server. The account
commands (disable, enable, reset-password, set-roles) are in
tests/auth/test_operator_commands.py."""

import argparse
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest

from app import cli, cli_mongo
from app.bootstrap import build_auth, open_store
from app.domain.store import Store
from app.web.app import create_app
from tests.auth.conftest import PASSWORD, AuthClient
from tests.conftest import free_port, make_settings
from tests.drills.test_restore_refusals import seed, take_backup
from tests.mongo_server import FerretDB
from tests.service import REPO
from tests.test_errors import assert_envelope


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def run(settings, *argv: str, stdin: str = "") -> tuple[int, list[dict]]:
    """One command, in process, on the database `settings` name (mongo_settings: the commands
    refuse the memory store); it opens a client of its own, as `python -m app` does."""
    lines: list[dict] = []
    code = await cli.run(parse(*argv), settings, stdin=io.StringIO(stdin), out=lines.append)
    return code, lines


@pytest.fixture(name="mongo_store")  # named apart from its function: other modules import it
async def mongo_store_fixture(mongo_settings) -> AsyncIterator[Store]:
    """The store on mongo_settings' fresh database: for the service and the assertions of a
    test whose commands (`run(mongo_settings, ...)`) change that database."""
    store = open_store(mongo_settings)
    await store.connect()
    try:
        yield store
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()


async def test_create_user_then_log_in(aiohttp_client, mongo_store, mongo_settings):
    code, lines = await run(mongo_settings, "users", "create", "--email", "Ops@Example.org",
                            "--role", "admin", stdin=PASSWORD + "\n")
    assert code == 0
    assert lines[0]["email"] == "ops@example.org" and lines[0]["roles"] == ["admin"]
    client = await aiohttp_client(create_app(make_settings(), store=mongo_store))
    login = await client.post("/auth/login", json={"email": "ops@example.org",
                                                   "password": PASSWORD})
    assert login.status == 200


async def test_create_user_refuses_a_weak_password(mongo_settings, logs):
    code, lines = await run(mongo_settings, "users", "create", "--email", "a@b.io",
                            stdin="short\n")
    assert code == 1 and lines == []
    [failed] = logs.find("cli.failed")
    assert failed["level"] == "error" and failed["code"] == "validation.failed"
    assert failed["command"] == "users create" and failed["details"][0]["field"] == "password"


async def test_create_user_reads_a_password_file_with_windows_line_endings(
    aiohttp_client, mongo_store, mongo_settings
):
    code, _ = await run(mongo_settings, "users", "create", "--email", "crlf@example.org",
                        stdin=PASSWORD + "\r\n")
    assert code == 0
    client = await aiohttp_client(create_app(make_settings(), store=mongo_store))
    login = await client.post("/auth/login", json={"email": "crlf@example.org",
                                                   "password": PASSWORD})
    assert login.status == 200


@pytest.mark.parametrize("stdin", [PASSWORD + "\r", PASSWORD + "\x00\n", "\t" + PASSWORD])
async def test_create_user_refuses_control_characters(mongo_store, mongo_settings, logs, stdin):
    code, lines = await run(mongo_settings, "users", "create", "--email", "ctl@example.org",
                            stdin=stdin)
    assert code == 1 and lines == []
    [failed] = logs.find("cli.failed")
    assert failed["code"] == "validation.failed" and failed["details"][0]["field"] == "password"
    assert "control character" in failed["details"][0]["reason"]
    assert PASSWORD not in logs.text
    assert await mongo_store.get_user_by_email("ctl@example.org") is None


async def test_list_and_revoke_every_token_of_a_user(aiohttp_client, mongo_store, mongo_settings):
    api = AuthClient(await aiohttp_client(create_app(
        make_settings(AUTH_ALLOW_SELF_REGISTRATION="true"), store=mongo_store)))
    session = await api.register("victim@example.org")
    second = await api.post("/auth/login", json={"email": session.email, "password": PASSWORD})
    second_refresh = (await second.json())["data"]["refreshToken"]
    rotated = (await (await api.refresh(session.refresh)).json())["data"]["refreshToken"]

    code, listed = await run(mongo_settings, "tokens", "list", "--user", "VICTIM@example.org")
    assert code == 0 and len(listed) == 3
    assert sum(1 for token in listed if token["usedAt"]) == 1

    user_id = (await mongo_store.get_user_by_email("victim@example.org")).id
    code, result = await run(mongo_settings, "tokens", "revoke", "--user", user_id)  # by id
    assert code == 0 and result[0]["revoked"] == 3
    for token in (rotated, second_refresh):  # ended by an operator: no reuse
        await assert_envelope(await api.refresh(token), 401, "auth.unauthorized")
    await assert_envelope(await api.refresh(session.refresh), 401, "auth.refresh.reused")
    _, after = await run(mongo_settings, "tokens", "list", "--user", "victim@example.org")
    assert all(token["revokedAt"] and token["revokedBy"] == "operator" for token in after)


async def test_unknown_user(mongo_settings, logs):
    code, _ = await run(mongo_settings, "tokens", "revoke", "--user", "nobody@example.org")
    assert code == 1
    assert logs.find("cli.failed")[0]["code"] == "resource.not_found"


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
    assert [line["code"] for line in json_lines(duplicate) if line.get("level") == "error"] == [
        "conflict"]


async def test_seed_demo_is_idempotent(mongo_store, mongo_settings):
    code, lines = await run(mongo_settings, "seed-demo")
    assert code == 0 and lines == [{"tagsCreated": 6, "itemsCreated": 30}]
    code, lines = await run(mongo_settings, "seed-demo")
    assert lines == [{"tagsCreated": 0, "itemsCreated": 0}]
    counts = await mongo_store.active_counts_by_tag()
    assert len(counts) == 6 and sum(counts.values()) > 29


def json_lines(done: subprocess.CompletedProcess[str]) -> list[dict]:
    """Every line the process wrote, stdout and stderr; each must be one JSON object."""
    assert "Traceback" not in done.stdout + done.stderr
    return [orjson.loads(line) for line in (done.stdout + done.stderr).splitlines()]


# What each command needs to reach the database (restore: a backup that verifies).
COMMANDS = {
    "users create": (["users", "create", "--email", "ops@example.org"], PASSWORD + "\n"),
    "users disable": (["users", "disable", "--email", "ops@example.org"], ""),
    "users reset-password": (["users", "reset-password", "--email", "ops@example.org"],
                             PASSWORD + "\n"),
    "tokens list": (["tokens", "list", "--user", "ops@example.org"], ""),
    "seed-demo": (["seed-demo"], ""),
    "backup": (["backup", "--out", "{tmp}/new-backup"], ""),
    "restore": (["restore", "--from", "{tmp}/backup", "--db", "restored"], ""),
    "users canonicalize-emails": (["users", "canonicalize-emails"], ""),
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database", ["unreachable", "refusing the credentials"])
async def test_a_database_that_cannot_serve_is_one_json_error_line(
    database, mongo_server, mongo_settings, tmp_path
):
    """Each command against a port nothing listens on, and against a server that refuses the
    credentials (FerretDB v1 refuses every SCRAM conversation: see test_refused_credentials)."""
    if database == "unreachable":
        uri, reason = f"mongodb://127.0.0.1:{free_port()}/", "unreachable"
    else:
        if not isinstance(mongo_server, FerretDB):
            pytest.skip("needs a server that refuses these credentials: FerretDB")
        parts = urlsplit(mongo_server.uri)
        uri = urlunsplit(parts._replace(netloc=f"catalog:canary-pw-91xQ@{parts.netloc}"))
        reason = "authentication"
    seed(mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db)
    await take_backup(mongo_settings, tmp_path / "backup")
    env = {"PATH": "/usr/bin:/bin", "MONGO_URI": uri, "MONGO_DB": "refused",
           "MONGO_TIMEOUT_MS": "500"}
    for command, (argv, stdin) in COMMANDS.items():
        argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
        done = subprocess.run([sys.executable, "-m", "app", *argv], cwd=REPO, env=env,
                              input=stdin, capture_output=True, text=True, timeout=60)

        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stdout == "", command  # no result line
        lines = json_lines(done)
        errors = [line for line in lines if line["level"] == "error"]
        assert [(e["msg"], e["dependency"], e["reason"], e["variable"], e["command"])
                for e in errors] == [("dependency.down", "mongo", reason, "MONGO_URI", command)]
        assert errors[0]["hint"]
        assert "canary-pw-91xQ" not in done.stdout + done.stderr and PASSWORD not in done.stderr
    assert not (tmp_path / "new-backup").exists()  # a failed backup leaves no folder behind


async def test_other_failures_are_one_json_line_too(mongo_settings, tmp_path, logs):
    (tmp_path / "file").write_text("")
    argv = ("backup", "--out", str(tmp_path / "file" / "backup"))  # not a directory

    code = await cli.run(parse(*argv), mongo_settings, out=lambda line: None)

    assert code == 1
    [failed] = [line for line in logs.lines() if line["level"] == "error"]
    assert failed["msg"] == "cli.failed" and failed["command"] == "backup"
    assert "Not a directory" in failed["message"] and "error" not in failed  # no stack
    unset = await cli.run(parse(*argv), make_settings(), out=lambda line: None)
    assert unset == 1 and logs.find("cli.failed")[-1]["variable"] == "MONGO_URI"
    assert not Path(tmp_path / "file" / "backup").exists()


@pytest.mark.parametrize("name", ["admin", "local", "config", "Admin"])
async def test_restore_refuses_the_reserved_databases(tmp_path, logs, name):
    settings = make_settings(MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/")
    argv = ("restore", "--from", str(tmp_path), "--db", name)

    code = await cli.run(parse(*argv), settings, out=lambda line: None)

    assert code == 1
    [failed] = [line for line in logs.lines() if line["level"] == "error"]
    assert (failed["msg"], failed["code"]) == ("cli.failed", "validation.failed")
    assert "--db" in failed["message"] and "reserved" in failed["message"]


@pytest.mark.parametrize("argv", [("users", "canonicalize-emails"), ("backup", "--out", "{tmp}")])
async def test_a_refusal_names_the_decoded_user(mongo_server, tmp_path, logs, argv):
    """The commands with a client of their own name whose credentials were refused as the
    service does: the user name percent-decoded, as the driver sent it."""
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("needs a server that refuses these credentials: FerretDB")
    parts = urlsplit(mongo_server.uri)
    uri = urlunsplit(parts._replace(netloc=f"ops%40corp:canary-pw-91xQ@{parts.netloc}"))
    settings = make_settings(MONGO_URI=uri, MONGO_DB="refused", MONGO_TIMEOUT_MS="500")
    argv = tuple(arg.replace("{tmp}", str(tmp_path / "out")) for arg in argv)

    assert await cli.run(parse(*argv), settings, out=lambda line: None) == 1

    [down] = logs.find("dependency.down")
    assert down["reason"] == "authentication"
    assert down["detail"].endswith('refused the credentials of user "ops@corp"')
    assert "canary-pw-91xQ" not in logs.text


async def test_a_uri_the_driver_reads_but_urlsplit_refuses_is_still_one_outage_line(logs):
    """pymongo accepts a stray "]" in a host that urlsplit refuses (ValueError): the command
    still reports the outage, not a crash in its own error handling."""
    settings = make_settings(MONGO_URI="mongodb://ops:pw@nowhere.invalid]:1/",
                             MONGO_TIMEOUT_MS="100")

    code = await cli.run(parse("users", "canonicalize-emails"), settings, out=lambda line: None)

    assert code == 1
    [down] = [line for line in logs.lines() if line["level"] == "error"]
    assert (down["msg"], down["reason"]) == ("dependency.down", "unreachable")


# Every command on accounts, tokens or the catalog, with a password on stdin where it reads one.
STORE_COMMANDS = {
    "users create": (["users", "create", "--email", "ops@example.org"], PASSWORD + "\n"),
    "users disable": (["users", "disable", "--email", "ops@example.org"], ""),
    "users enable": (["users", "enable", "--email", "ops@example.org"], ""),
    "users reset-password": (["users", "reset-password", "--email", "ops@example.org"],
                             PASSWORD + "\n"),
    "users set-roles": (["users", "set-roles", "--email", "ops@example.org", "--role", "admin"],
                        ""),
    "users canonicalize-emails": (["users", "canonicalize-emails"], ""),
    "tokens list": (["tokens", "list", "--user", "ops@example.org"], ""),
    "tokens revoke": (["tokens", "revoke", "--user", "ops@example.org"], ""),
    "seed-demo": (["seed-demo"], ""),
}


def refusal(command: str) -> dict[str, Any]:
    """The one line such a command writes without MONGO_URI (less its timestamp)."""
    verb = "read" if command == "tokens list" else "change"
    return {"level": "error", "msg": "cli.failed", "logger": "app.cli", "command": command,
            "message": f"{command} needs MONGO_URI: without it, it would {verb} a throwaway "
                       "memory store (empty at start, gone at exit), not the service's database",
            "variable": "MONGO_URI"}


@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_without_mongo_uri_a_command_refuses_the_throwaway_memory_store(command):
    """On a memory store of its own, `users disable` answered "no user" for an account that
    exists and `users create` or `seed-demo` exited 0 having kept nothing."""
    argv, stdin = STORE_COMMANDS[command]

    done = subprocess.run([sys.executable, "-m", "app", *argv], cwd=REPO,
                          env={"PATH": "/usr/bin:/bin"}, input=stdin, capture_output=True,
                          text=True, timeout=60)

    assert (done.returncode, done.stdout) == (1, "")
    [line] = json_lines(done)  # nothing else, not even the memory store's warning
    del line["ts"]
    assert line == refusal(command)


@pytest.mark.parametrize("command", STORE_COMMANDS)
async def test_without_mongo_uri_a_command_opens_no_store_and_reads_no_password(
    command, monkeypatch, logs
):
    opened: list[Any] = []

    def record(*args: Any, **kwargs: Any) -> NoReturn:
        opened.append(args)
        raise AssertionError("a refused command opened a store")

    monkeypatch.setattr(cli, "open_store", record)
    monkeypatch.setattr(cli_mongo, "_client", record)
    argv, password = STORE_COMMANDS[command]
    stdin, lines = io.StringIO(password), []

    code = await cli.run(parse(*argv), make_settings(), stdin=stdin, out=lines.append)

    assert (code, lines, opened, stdin.tell()) == (1, [], [], 0)
    [line] = [line for line in logs.lines() if line["logger"].startswith("app")]
    del line["ts"]
    assert line == refusal(command)


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
@pytest.mark.parametrize("command", ["create", "reset-password"])
async def test_an_empty_stdin_is_no_password(mongo_store, mongo_settings, logs, command, stdin):
    """Said as such (`< /dev/null`, a password file never written), not as a password shorter
    than the policy allows."""
    auth = build_auth(mongo_settings, mongo_store, lambda event, **fields: None)
    await auth.create_user("kept@example.org", PASSWORD, ("user",))
    before = await mongo_store.get_user_by_email("kept@example.org")
    email = "new@example.org" if command == "create" else "kept@example.org"

    code, lines = await run(mongo_settings, "users", command, "--email", email, stdin=stdin)

    assert code == 1 and lines == []
    [failed] = logs.find("cli.failed")
    given = "no password was given on stdin (its first line is the password)"
    assert (failed["command"], failed["code"], failed["message"]) == (
        f"users {command}", "validation.failed", given.capitalize())
    assert failed["details"] == [{"field": "password", "reason": given}]
    assert await mongo_store.get_user_by_email("new@example.org") is None
    assert await mongo_store.get_user_by_email("kept@example.org") == before


async def test_an_empty_password_at_the_prompt_is_no_password(mongo_settings, logs,
                                                              monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: "")
    code = await cli.run(parse("users", "create", "--email", "new@example.org"), mongo_settings,
                         stdin=Terminal(), out=lambda line: None)

    assert code == 1
    [failed] = logs.find("cli.failed")
    assert (failed["code"], failed["message"]) == ("validation.failed",
                                                   "No password was given at the prompt")
