"""Operator commands (`python -m app users|tokens|seed-demo|backup|restore ...`).

They use the configured store (MongoDB in production) and print JSON lines, so their output
pipes into jq like the service's logs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from app import __version__
from app.config import Settings
from app.domain.auth.models import ROLES
from app.domain.auth.schemas import Email, NewPassword
from app.domain.content.demo import seed_demo
from app.domain.content.service import ContentService
from app.domain.errors import AppError
from app.domain.events import EventBus
from app.domain.validation import Body, parse
from app.store import Store, backup, open_store
from app.telemetry import Telemetry
from app.web.app import build_auth


class _NewUser(Body):
    email: Email
    password: NewPassword


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    commands.add_parser(
        "seed-demo", help="load the demo catalog (missing tags; items only into an empty catalog)"
    )
    backup = commands.add_parser("backup", help="write a backup in mongodump's layout")
    backup.add_argument("--out", required=True, type=Path, metavar="DIR")
    restore = commands.add_parser("restore", help="restore a backup (ours or mongodump's)")
    restore.add_argument("--from", required=True, type=Path, metavar="DIR", dest="source")
    restore.add_argument("--drop", action="store_true",
                         help="replace the collections of a database that is not empty")
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="create a user (password from a prompt or stdin)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", action="append", choices=ROLES, dest="roles",
                        help="repeat for several roles (default: user)")

    tokens = commands.add_parser("tokens", help="inspect or revoke refresh tokens").add_subparsers(
        dest="action", required=True
    )
    for name, text in (("list", "list a user's refresh tokens, newest first"),
                       ("revoke", "revoke every refresh token of a user")):
        command = tokens.add_parser(name, help=text)
        command.add_argument("--user", required=True, metavar="ID|EMAIL")


def _read_password(stdin: IO[str]) -> str:
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AppError("The passwords differ")
        return password
    return stdin.readline().rstrip("\n")


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


async def run(
    args: argparse.Namespace,
    settings: Settings,
    *,
    store: Store | None = None,
    stdin: IO[str] = sys.stdin,
    out: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Run one operator command; the store is opened here unless one is given (tests)."""
    emit = out or (lambda line: print(orjson.dumps(line).decode(), flush=True))
    if args.command in ("backup", "restore"):
        return await _backup_or_restore(args, settings, emit)
    own_store = store is None
    if store is None:
        store = open_store(settings)
        await store.connect()
    try:
        auth = build_auth(settings, store, Telemetry(settings, version=__version__)
                          .security.auth_event)
        if args.command == "seed-demo":
            tags, items = await seed_demo(ContentService(store, EventBus()))
            emit({"tagsCreated": tags, "itemsCreated": items})
        elif args.command == "users":
            body = parse(_NewUser, {"email": args.email, "password": _read_password(stdin)})
            user = await auth.create_user(body.email, body.password, tuple(args.roles or ["user"]))
            emit({"created": user.id, "email": user.email, "roles": list(user.roles)})
        elif args.action == "list":
            user = await auth.find_user(args.user)
            for token in await auth.list_tokens(user.id):
                emit({
                    "jti": token.jti, "familyId": token.family_id,
                    "createdAt": _iso(token.created_at), "expiresAt": _iso(token.expires_at),
                    "usedAt": _iso(token.used_at), "revokedAt": _iso(token.revoked_at),
                    "replacedBy": token.replaced_by,
                })
        else:
            user = await auth.find_user(args.user)
            emit({"user": user.id, "revoked": await auth.revoke_all(user.id)})
        return 0
    except AppError as exc:
        details = f" {orjson.dumps(exc.details).decode()}" if exc.details else ""
        print(f"error: {exc.code}: {exc.message}{details}", file=sys.stderr)
        return 1
    finally:
        if own_store:
            await store.close()


async def _backup_or_restore(
    args: argparse.Namespace, settings: Settings, emit: Callable[[dict[str, Any]], None]
) -> int:
    if settings.mongo_uri is None:
        print(f"error: {args.command} needs MONGO_URI (the memory store has nothing to keep; "
              "to debug with a backup locally: python -m app serve --from-backup DIR)",
              file=sys.stderr)
        return 1
    # No per-operation timeout: a large collection takes as long as it takes.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_uri.reveal(), serverSelectionTimeoutMS=settings.mongo_timeout_ms * 5,
        w="majority", tz_aware=True,
    )
    try:
        if args.command == "backup":
            for report in await backup.backup(client, settings.mongo_db, args.out):
                emit({"collection": report.name, "documents": report.documents,
                      "sha256": report.sha256})
        else:
            for report in await backup.restore(client, args.source, database=settings.mongo_db,
                                               drop=args.drop):
                emit({"restored": report.name, "documents": report.documents})
        return 0
    except (backup.BackupError, PyMongoError) as exc:
        print(f"error: {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.close()
