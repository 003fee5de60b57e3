"""Operator commands of the example domain (`python -m app users|tokens|seed-demo|backup|restore
...`, and `serve --from-backup`): the `cli` of app.features (see app.composition.OperatorCli).

They use the configured store (MongoDB; backup, restore and canonicalize-emails have a client
of their own, see app.cli_mongo) and print JSON lines, so their output pipes into jq like the
service's logs: results on stdout, log lines on stderr. Without MONGO_URI every command but
`restore --check` refuses to run: only `serve --from-backup` uses the memory store, on purpose. A
failure is one JSON line too, never a traceback: `dependency.down` (the service's line for an
outage, with the `reason` and the variable to check) when the database cannot serve,
`cli.failed` otherwise; exit status 1.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from pymongo.errors import PyMongoError

from app import __version__
from app.bootstrap import build_auth, open_store
from app.cli_mongo import NeedsMongo, backup_or_restore, canonicalize_emails, throwaway_store
from app.config import ConfigError, Settings
from app.domain.auth.models import ROLES
from app.domain.auth.schemas import Email, NewPassword
from app.domain.auth.service import AuthService
from app.domain.content.demo import seed_demo
from app.domain.content.service import ContentService
from app.domain.database import Database, StoreUnavailable
from app.domain.errors import AppError, ValidationFailed
from app.domain.events import EventBus
from app.domain.validation import Body, parse
from app.lifecycle import StartupError
from app.store import backup
from app.store.backup_verify import one_line
from app.store.memory import MemoryStore
from app.telemetry import Telemetry, fields, get_logger

if TYPE_CHECKING:
    from app.composition import Commands, DatabaseLoader

log = get_logger("app.cli")


class _NewUser(Body):
    email: Email
    password: NewPassword


class _NewPassword(Body):
    password: NewPassword


def add_commands(commands: Commands, serve: argparse.ArgumentParser | None = None) -> None:
    if serve is not None:
        serve.add_argument("--from-backup", type=Path, metavar="DIR",
                           help="load a backup into the memory store first (local debugging)")
    commands.add_parser(
        "seed-demo", help="load the demo catalog (missing tags; items only into an empty catalog)"
    )
    backup = commands.add_parser("backup", help="write a backup in mongodump's layout")
    backup.add_argument("--out", required=True, type=Path, metavar="DIR")
    restore = commands.add_parser(
        "restore", help="verify a backup written by `backup`, then restore it"
    )
    restore.add_argument("--from", required=True, type=Path, metavar="DIR", dest="source")
    restore.add_argument("--db", metavar="NAME",
                         help="restore into database NAME instead of MONGO_DB (same checks: "
                              "refused when not empty, unless --drop)")
    restore.add_argument("--drop", action="store_true",
                         help="replace the collections of a database that is not empty")
    restore.add_argument("--check", action="store_true",
                         help="only verify the backup's files; no database needed")
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="create a user (password from a prompt or stdin)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", action="append", choices=ROLES, dest="roles",
                        help="repeat for several roles (default: user)")
    for name, text in _ACCOUNT_COMMANDS.items():
        command = users.add_parser(name, help=text, description=text + _STILL_VALID)
        command.add_argument("--email", required=True)
        if name == "set-roles":
            command.add_argument("--role", action="append", choices=ROLES, dest="roles",
                                 required=True, help="repeat for several roles")
    canonicalize = users.add_parser(
        "canonicalize-emails",
        help="rewrite stored emails to their canonical form; collisions are reported, not merged",
    )
    canonicalize.add_argument("--dry-run", action="store_true", help="report only")

    tokens = commands.add_parser("tokens", help="inspect or revoke refresh tokens").add_subparsers(
        dest="action", required=True
    )
    for name, text in (("list", "list a user's refresh tokens, newest first"),
                       ("revoke", "revoke every refresh token of a user")):
        command = tokens.add_parser(name, help=text)
        command.add_argument("--user", required=True, metavar="ID|EMAIL")


def serve_database(args: argparse.Namespace, settings: Settings) -> DatabaseLoader | None:
    """`serve --from-backup DIR`: the memory store, loaded from the backup on the serving loop."""
    source: Path | None = getattr(args, "from_backup", None)
    if source is None:
        return None
    if settings.mongo_uri is not None:
        raise ConfigError("MONGO_URI", "--from-backup loads into the embedded memory store; "
                          "unset MONGO_URI")

    async def load() -> Database:
        store = MemoryStore()
        try:
            loaded = await backup.load_into(store, source)
        except backup.BackupError as exc:
            raise StartupError(f"--from-backup: {exc}") from exc
        log.info("store.loaded_backup", extra=fields(source=str(source), **loaded))
        return store

    return load


def _read_password(stdin: IO[str]) -> str:
    if stdin.isatty():
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except (EOFError, KeyboardInterrupt):
            raise ValidationFailed("No password was given") from None
        if again != password:
            raise ValidationFailed("The passwords differ")
        if not password:
            raise _no_password("at the prompt")
    else:
        # One line; its ending is "\n" or, from a file saved on Windows, "\r\n" (stdin does
        # not translate it on POSIX): a "\r" kept would be part of the password.
        line = stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r") if line.endswith("\n") else line
        if not password:
            # An empty stdin (`< /dev/null`, a file that was not written) or an empty first
            # line: said as such, not as a password shorter than the policy allows.
            raise _no_password("on stdin (its first line is the password)")
    if any(unicodedata.category(char) == "Cc" for char in password):
        # Nobody types these at a login form: a stray byte of the file, never meant.
        raise ValidationFailed("The password read contains a control character", details=[{
            "field": "password",
            "reason": "contains a control character (a tab, a lone carriage return, ...)"}])
    return password


def _no_password(where: str) -> ValidationFailed:
    return ValidationFailed(f"No password was given {where}", details=[{
        "field": "password", "reason": f"no password was given {where}"}])


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# The commands that read or change accounts, tokens or the catalog in the configured store.
_STORE_COMMANDS = ("seed-demo", "users", "tokens")


async def run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    stdin: IO[str] = sys.stdin,
    out: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Run one operator command on the store the settings name. Every failure is one JSON log
    line on stderr (see `_failed`) and exit status 1."""
    emit = out or (lambda line: print(orjson.dumps(line).decode(), flush=True))
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    try:
        if args.command in _STORE_COMMANDS and settings.mongo_uri is None:
            # Before anything is opened or read (no store, no password): see throwaway_store.
            raise throwaway_store(command, reads_only=command == "tokens list")
        if args.command in ("backup", "restore"):
            await backup_or_restore(args, settings, emit)
        elif args.command == "users" and args.action == "canonicalize-emails":
            return await canonicalize_emails(settings, emit, dry_run=args.dry_run)
        else:
            await _with_store(args, settings, stdin, emit)
        return 0
    except Exception as exc:
        return _failed(command, exc)


async def _with_store(
    args: argparse.Namespace, settings: Settings, stdin: IO[str],
    emit: Callable[[dict[str, Any]], None],
) -> None:
    store = open_store(settings)
    await store.connect()
    try:
        auth = build_auth(settings, store, Telemetry(settings, version=__version__)
                          .security.auth_event)
        if args.command == "seed-demo":
            tags, items = await seed_demo(ContentService(store, EventBus()))
            emit({"tagsCreated": tags, "itemsCreated": items})
        elif args.command == "users" and args.action == "create":
            body = parse(_NewUser, {"email": args.email, "password": _read_password(stdin)})
            user = await auth.create_user(body.email, body.password, tuple(args.roles or ["user"]))
            emit({"created": user.id, "email": user.email, "roles": list(user.roles)})
        elif args.command == "users":
            await _change_account(auth, args, stdin, emit)
        elif args.action == "list":
            user = await auth.find_user(args.user)
            for token in await auth.list_tokens(user.id):
                emit({
                    "jti": token.jti, "familyId": token.family_id,
                    "createdAt": _iso(token.created_at), "expiresAt": _iso(token.expires_at),
                    "usedAt": _iso(token.used_at), "revokedAt": _iso(token.revoked_at),
                    "revokedBy": token.revoked_by, "replacedBy": token.replaced_by,
                })
        else:
            user = await auth.find_user(args.user)
            emit({"user": user.id, "revoked": await auth.revoke_all(user.id)})
    finally:
        await store.close()


# users disable | enable | reset-password | set-roles: what each does, for its help.
_ACCOUNT_COMMANDS = {
    "disable": "disable an account: no login (answered as a wrong password), refresh or /me; "
               "revokes every refresh token of the user",
    "enable": "enable a disabled account again (its revoked tokens stay revoked)",
    "reset-password": "set a new password (from a prompt or stdin, the same rules as create); "
                      "revokes every refresh token of the user",
    "set-roles": "replace the user's roles; revokes every refresh token of the user, so new "
                 "sessions carry the new roles",
}
_STILL_VALID = (". Access tokens already issued stay valid until they expire "
                "(ACCESS_TOKEN_TTL_SECONDS), except where the service reads the account "
                "(/me, the admin routes).")
_ACCOUNT_EVENTS = {"disable": "user.disabled", "enable": "user.enabled",
                   "reset-password": "user.password_reset", "set-roles": "user.roles_changed"}


async def _change_account(
    auth: AuthService, args: argparse.Namespace, stdin: IO[str],
    emit: Callable[[dict[str, Any]], None],
) -> None:
    """One line to the log (ids only, never the email or the password) and one result line."""
    if args.action == "disable":
        change = await auth.disable_user(args.email)
    elif args.action == "enable":
        change = await auth.enable_user(args.email)
    elif args.action == "reset-password":
        await auth.account(args.email)  # an unknown email fails before the prompt
        body = parse(_NewPassword, {"password": _read_password(stdin)})
        change = await auth.reset_password(args.email, body.password)
    else:
        change = await auth.set_roles(args.email, tuple(args.roles))
    before, after = change.before, change.after
    what: dict[str, Any] = {"revokedTokens": change.revoked_tokens}
    if args.action == "set-roles":
        what |= {"roles": list(after.roles), "previousRoles": list(before.roles)}
    elif args.action != "reset-password":
        what |= {"disabled": after.disabled, "changed": before.disabled != after.disabled}
    log.info(_ACCOUNT_EVENTS[args.action], extra=fields(userId=after.id, **what))
    emit({"user": after.id, "email": after.email, **what})


# Failures: one JSON line on stderr, never a traceback, so `2>&1 | jq` reads all of a command.

_HINTS = {
    "unreachable": "no MongoDB answered at the address in MONGO_URI: check the host, port, DNS "
                   "and network path, and that the database runs",
    "timeout": "the database did not answer within MONGO_TIMEOUT_MS: check its load and the "
               "network path to the address in MONGO_URI",
    "authentication": "the database refused the credentials in MONGO_URI: check the user, "
                      "password and authSource",
    "authorization": "the user in MONGO_URI lacks a privilege this command needs on MONGO_DB",
}


def _failed(command: str, exc: Exception) -> int:
    """Log why `command` failed, as one line, and return its exit status (1)."""
    if isinstance(exc, StoreUnavailable):
        # The service's own line for an outage, so one query finds both (`dependency.down`).
        cause = exc.__cause__
        log.error("dependency.down", extra=fields(
            dependency="mongo", reason=exc.reason, detail=exc.detail, command=command,
            operation=exc.operation, variable="MONGO_URI",
            hint=_HINTS.get(exc.reason, "the database cannot serve: check it and MONGO_URI"),
            **({"message": str(cause)} if isinstance(cause, backup.BackupError) else {})))
    elif isinstance(exc, AppError):
        log.error("cli.failed", extra=fields(command=command, code=exc.code, message=exc.message,
                                             **({"details": exc.details} if exc.details else {})))
    elif isinstance(exc, NeedsMongo):
        log.error("cli.failed", extra=fields(command=command, message=str(exc),
                                             variable="MONGO_URI"))
    elif isinstance(exc, backup.BackupError):  # one line already, naming the file
        log.error("cli.failed", extra=fields(command=command, message=str(exc)))
    elif isinstance(exc, PyMongoError):
        log.error("cli.failed", extra=fields(command=command, message=one_line(exc)))
    elif isinstance(exc, OSError):
        log.error("cli.failed", extra=fields(
            command=command, message=f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")))
    else:  # a bug: the stack goes into the line's `error`, still one JSON line
        log.error("cli.failed", exc_info=exc, extra=fields(command=command))
    return 1
