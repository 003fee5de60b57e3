"""The operator commands that talk to MongoDB with a client of their own, not through the store:
`backup`, `restore` (and `restore --check`, which needs no database) and `users
canonicalize-emails`. They fail as the store does when the database cannot serve
(StoreUnavailable, with its reason and the detail to act on), so `app.cli` reports every
command's outage the same way."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from app.config import Settings
from app.domain.auth.emails import InvalidEmail, canonical_email
from app.domain.database import StoreUnavailable
from app.domain.errors import ValidationFailed
from app.store import backup
from app.store.mongo_errors import failure_detail, failure_reason, uri_user

# `restore --db`: a name MongoDB accepts everywhere (it refuses ".", "/", "$", spaces...).
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
# ...and none of the server's own (users and roles, the replication log, sharding metadata).
# MongoDB refuses two names that differ only in case, so "Admin" is one of them too.
_RESERVED_DATABASES = ("admin", "local", "config")


class NeedsMongo(Exception):
    """The command needs MONGO_URI and it is unset."""


def throwaway_store(command: str, *, reads_only: bool = False) -> NeedsMongo:
    """The refusal of a command on accounts, tokens or the catalog without MONGO_URI: it would
    run against the embedded memory store, empty at start and gone at exit, so `users disable`
    would answer "no user" for an account that exists and `users create` would succeed and keep
    nothing."""
    return NeedsMongo(f"{command} needs MONGO_URI: without it, it would "
                      f"{'read' if reads_only else 'change'} a throwaway memory store (empty at "
                      "start, gone at exit), not the service's database")


async def backup_or_restore(
    args: argparse.Namespace, settings: Settings, emit: Callable[[dict[str, Any]], None]
) -> None:
    if args.command == "restore" and args.check:
        _, verified = backup.verify(args.source)
        for collection in verified:
            emit({"verified": collection.name, "documents": collection.documents})
        return
    if settings.mongo_uri is None:
        raise NeedsMongo(f"{args.command} needs MONGO_URI (the memory store has nothing to "
                         "keep; to debug with a backup locally: python -m app serve "
                         "--from-backup DIR)")
    database = settings.mongo_db
    if args.command == "restore" and args.db is not None:
        if not _DATABASE_NAME.fullmatch(args.db):
            raise ValidationFailed(f"--db {args.db!r}: a database name is 1-63 letters, digits, "
                                   "'_' or '-'")
        if args.db.lower() in _RESERVED_DATABASES:
            raise ValidationFailed(f"--db {args.db!r}: reserved for the server's own data "
                                   f"({', '.join(_RESERVED_DATABASES)}); name another database")
        database = args.db
    uri = settings.mongo_uri.reveal()
    client = _client(uri, settings)
    try:
        with _driver_errors(client, uri, args.command):
            if args.command == "backup":
                reports = await backup.backup(client, database, args.out)
            else:
                reports = await backup.restore(client, args.source, database=database,
                                               drop=args.drop)
        for report in reports:
            emit({"collection": report.name, "documents": report.documents,
                  "sha256": report.sha256} if args.command == "backup" else
                 {"restored": report.name, "documents": report.documents, "database": database})
    finally:
        await client.close()


async def canonicalize_emails(
    settings: Settings, emit: Callable[[dict[str, Any]], None], *, dry_run: bool
) -> int:
    """Users stored before emails had one canonical form: rewrite each to canonical_email of
    itself. Two users with the same canonical form (or an email that has none) are reported
    and left alone: which account to keep is a person's decision. Exit 1 when any remain."""
    if settings.mongo_uri is None:
        raise throwaway_store("users canonicalize-emails")
    uri = settings.mongo_uri.reveal()
    client = _client(uri, settings)
    users = client[settings.mongo_db]["users"]
    counts = {"checked": 0, "rewritten": 0, "collisions": 0, "invalid": 0}
    try:
        with _driver_errors(client, uri, "canonicalize-emails"):
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
    finally:
        await client.close()


def _client(uri: str, settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    """The commands' own client. No per-operation timeout: a large collection takes as long as
    it takes; only finding a server is bounded."""
    return AsyncMongoClient(uri, serverSelectionTimeoutMS=settings.mongo_timeout_ms * 5,
                            w="majority", tz_aware=True)


@contextlib.contextmanager
def _driver_errors(client: AsyncMongoClient[Any], uri: str, operation: str) -> Iterator[None]:
    """The commands with a client of their own fail as the store does when the database cannot
    serve (StoreUnavailable, with its reason and the detail to act on): a driver error, or one
    that stopped a restore. Other errors keep raising."""
    try:
        yield
    except (PyMongoError, backup.BackupError) as exc:
        cause = exc if isinstance(exc, PyMongoError) else exc.__cause__
        reason = failure_reason(cause) if isinstance(cause, PyMongoError) else None
        if reason is None:
            raise
        servers = client.topology_description.server_descriptions().values()
        detail = failure_detail(reason, cause, servers, uri_user(uri))
        raise StoreUnavailable(reason, operation, detail) from exc
