"""Operator commands of the example domain (`python -m app users|tokens|seed-demo|backup|restore
...`, and `serve --from-backup`): the `cli` of app.features (see app.composition.OperatorCli).

They use the configured store (MongoDB in production) and print JSON lines, so their output
pipes into jq like the service's logs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from app import __version__
from app.bootstrap import build_auth, open_store
from app.config import ConfigError, Settings
from app.domain.auth.emails import InvalidEmail, canonical_email
from app.domain.auth.models import ROLES
from app.domain.auth.schemas import Email, NewPassword
from app.domain.content.demo import seed_demo
from app.domain.content.service import ContentService
from app.domain.database import Database
from app.domain.errors import AppError
from app.domain.events import EventBus
from app.domain.store import Store
from app.domain.validation import Body, parse
from app.lifecycle import StartupError
from app.store import backup
from app.store.memory import MemoryStore
from app.telemetry import Telemetry, fields, get_logger

if TYPE_CHECKING:
    from app.composition import Commands, DatabaseLoader

log = get_logger("app")


class _NewUser(Body):
    email: Email
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
    if args.command == "users" and args.action == "canonicalize-emails":
        return await _canonicalize_emails(settings, emit, dry_run=args.dry_run)
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
    if args.command == "restore" and args.check:
        try:
            _, verified = backup.verify(args.source)
        except backup.BackupError as exc:
            print(f"error: restore: {exc}", file=sys.stderr)
            return 1
        for collection in verified:
            emit({"verified": collection.name, "documents": collection.documents})
        return 0
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
        # One line: the operator reads it in a terminal or a CronJob's log.
        print(f"error: {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        await client.close()


async def _canonicalize_emails(
    settings: Settings, emit: Callable[[dict[str, Any]], None], *, dry_run: bool
) -> int:
    """Users stored before emails had one canonical form: rewrite each to canonical_email of
    itself. Two users with the same canonical form (or an email that has none) are reported
    and left alone: which account to keep is a person's decision. Exit 1 when any remain."""
    if settings.mongo_uri is None:
        print("error: canonicalize-emails needs MONGO_URI (the memory store starts empty)",
              file=sys.stderr)
        return 1
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_uri.reveal(), serverSelectionTimeoutMS=settings.mongo_timeout_ms * 5,
        w="majority", tz_aware=True,
    )
    users = client[settings.mongo_db]["users"]
    counts = {"checked": 0, "rewritten": 0, "collisions": 0, "invalid": 0}
    try:
        by_canonical: dict[str, list[dict[str, Any]]] = {}
        async for doc in users.find({}, {"email": 1}):
            counts["checked"] += 1
            try:
                by_canonical.setdefault(canonical_email(doc["email"]), []).append(doc)
            except InvalidEmail as exc:
                counts["invalid"] += 1
                emit({"invalid": doc["_id"], "email": doc["email"], "reason": str(exc)})
        for canonical, docs in by_canonical.items():
            if len(docs) > 1:
                counts["collisions"] += 1
                emit({"collision": canonical, "users": [d["_id"] for d in docs],
                      "emails": [d["email"] for d in docs]})
                continue
            doc = docs[0]
            if doc["email"] == canonical:
                continue
            if not dry_run:
                try:  # the email must still be the one read: never overwrite a newer change
                    await users.update_one({"_id": doc["_id"], "email": doc["email"]},
                                           {"$set": {"email": canonical}})
                except DuplicateKeyError:  # registered meanwhile under the canonical form
                    counts["collisions"] += 1
                    emit({"collision": canonical, "users": [doc["_id"]]})
                    continue
            counts["rewritten"] += 1
            emit({"rewrite": doc["_id"], "from": doc["email"], "to": canonical,
                  "dryRun": dry_run})
        emit({**counts, "dryRun": dry_run})
        return 1 if counts["collisions"] or counts["invalid"] else 0
    except PyMongoError as exc:
        print(f"error: canonicalize-emails: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        await client.close()
