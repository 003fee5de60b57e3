"""Backups in mongodump's layout, and restores that verify everything before they change anything.

`DIR/<db>/<collection>.bson` holds the documents as concatenated BSON and
`DIR/<db>/<collection>.metadata.json` the indexes, as `mongodump` writes them, so `mongorestore`
reads our backups. `DIR/manifest.json` adds what mongodump does not: for every file its size and
SHA-256, and per collection the document count. The manifest is required: without it nothing
says that a file is missing, truncated or edited.

A restore (1) verifies every file without touching the database: present, of its size and
checksum, every document decodes, counts match, metadata well formed; (2) loads each collection
under a staging name in batches, then builds the service's required indexes and the backup's;
(3) once all are staged, renames each over the real one. A refusal in (1) or a failure in (2)
leaves the database as it was; the message names the file and the problem. Step (1), which needs
no server, is `app.store.backup_verify`; `verify` and `BackupError` are re-exported from here.

On a replica set the backup reads every collection in one snapshot session (a consistent point in
time); on a standalone server (FerretDB, a single mongod) it says that it cannot.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure, PyMongoError

from app.store.backup_verify import (
    CODEC,
    FORMAT,
    MANIFEST,
    STAGING_SUFFIX,
    BackupError,
    VerifiedCollection,
    one_line,
    raw_documents,
    sha256_of,
    verify,
)
from app.store.mongo import required_indexes

__all__ = ["BackupError", "CollectionReport", "backup", "load_into", "restore", "verify"]

log = logging.getLogger("app.backup")
# A batch stays far below the server's 48 MB message limit and bounds what a restore holds.
BATCH_DOCUMENTS = 1000
BATCH_BYTES = 4 << 20
_NOT_IMPLEMENTED = 238  # e.g. TTL indexes on FerretDB v1


@dataclass(frozen=True, slots=True)
class CollectionReport:
    name: str
    documents: int
    sha256: str


def _file_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_of(path)}


async def _is_replica_set(client: AsyncMongoClient[Any]) -> bool:
    hello = await client.admin.command("hello")
    return "setName" in hello


async def backup(client: AsyncMongoClient[Any], database: str, out: Path) -> list[CollectionReport]:
    db = client[database]
    consistent = await _is_replica_set(client)  # first: a database that is down leaves no folder
    target = out / database
    target.mkdir(parents=True, exist_ok=True)
    if not consistent:
        log.warning("backup.not_a_snapshot: the server is not a replica set, so collections are "
                    "read one after the other, not at one point in time")
    reports = []
    collections: dict[str, Any] = {}
    names = sorted(name for name in await db.list_collection_names()
                   if not name.startswith("system.") and not name.endswith(STAGING_SUFFIX))
    async with client.start_session(snapshot=consistent) as session:
        for name in names:
            path = target / f"{name}.bson"
            count = 0
            with path.open("wb") as sink:
                async for document in db[name].find({}, session=session).sort("_id", 1):
                    sink.write(bson.encode(document))
                    count += 1
            indexes = [dict(index) async for index in await db[name].list_indexes()]
            metadata = {"options": {}, "indexes": indexes, "collectionName": name,
                        "type": "collection"}
            metadata_path = target / f"{name}.metadata.json"
            metadata_path.write_text(json_util.dumps(metadata))
            data = _file_entry(path)
            collections[name] = {"documents": count, "bson": data,
                                 "metadata": _file_entry(metadata_path)}
            reports.append(CollectionReport(name, count, data["sha256"]))
    manifest = {
        "format": FORMAT,
        "database": database,
        "createdAt": datetime.now(UTC).isoformat(),
        "consistentSnapshot": consistent,
        "collections": collections,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return reports


# Restoring: staged, batched, swapped in at the end.


async def _load(staging: Any, collection: VerifiedCollection) -> None:
    """Stream the file into the staging collection in batches, re-hashing as it goes: the file
    must still be the one verified."""
    digest = hashlib.sha256()
    batch: list[RawBSONDocument] = []
    size = 0
    for raw in raw_documents(collection.data):
        digest.update(raw)
        # Raw documents go to the server as they are: no decode, no re-encode.
        batch.append(RawBSONDocument(raw))
        size += len(raw)
        if len(batch) >= BATCH_DOCUMENTS or size >= BATCH_BYTES:
            await staging.insert_many(batch)
            batch, size = [], 0
    if batch:
        await staging.insert_many(batch)
    if digest.hexdigest() != collection.sha256:
        raise BackupError(f"{collection.data}: changed while the restore was reading it")
    count = await staging.count_documents({})
    if count != collection.documents:
        raise BackupError(f"{collection.name}: loaded {count} documents, expected "
                          f"{collection.documents}")


def _key(key: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((field, int(v) if isinstance(v, float) else v) for field, v in dict(key).items())


async def _build_indexes(staging: Any, collection: VerifiedCollection) -> None:
    """The service's required indexes first, whatever the metadata says; then the backup's
    others. A metadata index on a required key or name is left out: the required one wins."""
    models = required_indexes().get(collection.name, [])
    if models:
        await staging.create_indexes(models)
    by_name = {model.document["name"]: model.document for model in models}
    by_key = {_key(model.document["key"]): model.document for model in models}
    for index in collection.indexes:
        if index["name"] == "_id_":
            continue
        ours = by_name.get(index["name"]) or by_key.get(_key(index["key"]))
        if ours is not None:
            if _key(index["key"]) != _key(ours["key"]) or any(
                bool(index.get(option)) != bool(ours.get(option))
                for option in ("unique", "sparse")
            ):
                log.warning("restore.index_replaced: the backup's differs from the one the "
                            "service requires, which is built instead", extra={"fields": {
                                "collection": collection.name, "index": index["name"]}})
            continue
        options = {k: v for k, v in index.items() if k not in ("v", "key", "ns")}
        try:
            await staging.create_index(list(index["key"].items()), **options)
        except OperationFailure as exc:
            if exc.code != _NOT_IMPLEMENTED:
                raise
            log.warning("restore.index_skipped: the server cannot build it",
                        extra={"fields": {"collection": collection.name, "index": index["name"]}})


async def _replace(db: Any, staging: Any, collection: str) -> None:
    """Rename the staging collection over the real one: atomically where the server can
    (renameCollection with dropTarget); otherwise drop, then rename (FerretDB v1)."""
    if collection not in await db.list_collection_names():
        await staging.rename(collection)
        return
    try:
        await staging.rename(collection, dropTarget=True)
    except OperationFailure as exc:
        if exc.code != _NOT_IMPLEMENTED:
            raise
        await db[collection].drop()
        await staging.rename(collection)


async def _drop_staging(db: Any, names: list[str]) -> None:
    for name in names:
        try:
            await db[name + STAGING_SUFFIX].drop()
        except PyMongoError:  # the server is gone; the next restore drops it first
            log.warning("restore.staging_left", extra={"fields": {"collection": name}})


async def restore(
    client: AsyncMongoClient[Any], source: Path, *, database: str | None = None,
    drop: bool = False,
) -> list[CollectionReport]:
    """Verify the backup, stage every collection, then swap them in (see the module doc)."""
    name, collections = verify(source)
    db = client[database or name]
    existing = [c for c in await db.list_collection_names()
                if not c.startswith("system.") and not c.endswith(STAGING_SUFFIX)]
    if existing and not drop:
        raise BackupError(f"database {db.name!r} is not empty ({', '.join(sorted(existing))}); "
                          "restore with --drop to replace its collections")
    staged: list[str] = []
    try:
        for collection in collections:
            staged.append(collection.name)
            staging = db[collection.name + STAGING_SUFFIX]
            await staging.drop()  # a leftover of an interrupted restore
            await db.create_collection(staging.name)  # an empty collection is restored too
            await _load(staging, collection)
            await _build_indexes(staging, collection)
    except (BackupError, PyMongoError) as exc:
        await _drop_staging(db, staged)
        raise BackupError(f"restoring {staged[-1]} failed ({one_line(exc)}); the database "
                          "was not changed") from exc
    done: list[CollectionReport] = []
    for collection in collections:
        try:
            await _replace(db, db[collection.name + STAGING_SUFFIX], collection.name)
        except PyMongoError as exc:
            await _drop_staging(db, [c.name for c in collections[len(done):]])
            replaced = ", ".join(r.name for r in done) or "none"
            raise BackupError(f"replacing {collection.name} failed ({one_line(exc)}); already "
                              f"replaced: {replaced}; the others are unchanged") from exc
        done.append(CollectionReport(collection.name, collection.documents, collection.sha256))
    return done


async def load_into(store: Any, source: Path) -> dict[str, int]:
    """Load a verified backup into any store through its port (the memory store, for local
    debugging with production-shaped data), one document at a time. Returns the documents
    loaded per collection."""
    from app.store import documents as mongo  # the stored shape <-> domain objects

    _, collections = verify(source)
    files = {c.name: c.data for c in collections}

    def docs(collection: str) -> Iterator[dict[str, Any]]:
        if collection in files:
            for raw in raw_documents(files[collection]):
                yield bson.decode(raw, CODEC)

    for doc in docs("users"):
        await store.create_user(mongo.user_from_document(doc))
    for doc in docs("tags"):
        await store.create_tag(mongo.tag_from_document(doc))
    for doc in docs("content"):
        await store.insert_content(mongo.content_from_document(doc))
    for doc in docs("refresh_families"):
        await store.create_refresh_family(doc["_id"], doc["userId"], doc["createdAt"],
                                          doc["expiresAt"])
        if doc.get("revokedAt"):
            await store.revoke_refresh_family(doc["_id"], doc["revokedAt"])
    for doc in docs("refresh_tokens"):
        await store.insert_refresh_token(mongo.token_from_document(doc))
    return {c.name: c.documents for c in collections}
