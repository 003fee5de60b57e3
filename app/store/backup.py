"""Backups in mongodump's layout, and restores that check what they restored.

`DIR/<db>/<collection>.bson` holds the documents as concatenated BSON and
`DIR/<db>/<collection>.metadata.json` the indexes, as `mongodump` writes them, so `mongorestore`
reads our backups and we read `mongodump`'s. `DIR/manifest.json` adds what mongodump does not:
per collection, the document count and a SHA-256 of the .bson file, checked before and after a
restore.

On a replica set the backup reads every collection in one snapshot session (a consistent point in
time); on a standalone server (FerretDB, a single mongod) it says that it cannot.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

log = logging.getLogger("app.backup")
MANIFEST = "manifest.json"
_NOT_IMPLEMENTED = 238  # e.g. TTL indexes on FerretDB v1
STAGING_SUFFIX = "__restoring"


class BackupError(Exception):
    """Something an operator must know: the message says what and what to do."""


@dataclass(frozen=True, slots=True)
class CollectionReport:
    name: str
    documents: int
    sha256: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def _is_replica_set(client: AsyncMongoClient[Any]) -> bool:
    hello = await client.admin.command("hello")
    return "setName" in hello


async def backup(client: AsyncMongoClient[Any], database: str, out: Path) -> list[CollectionReport]:
    db = client[database]
    target = out / database
    target.mkdir(parents=True, exist_ok=True)
    consistent = await _is_replica_set(client)
    if not consistent:
        log.warning("backup.not_a_snapshot: the server is not a replica set, so collections are "
                    "read one after the other, not at one point in time")
    reports = []
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
            (target / f"{name}.metadata.json").write_text(json_util.dumps(metadata))
            reports.append(CollectionReport(name, count, _sha256(path)))
    manifest = {
        "database": database,
        "createdAt": datetime.now(UTC).isoformat(),
        "consistentSnapshot": consistent,
        "collections": {r.name: {"documents": r.documents, "sha256": r.sha256} for r in reports},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return reports


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


def read_backup(source: Path, database: str | None = None) -> tuple[str, dict[str, Any]]:
    """The database name and the manifest (rebuilt from the files for a plain mongodump)."""
    manifest_path = source / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        return manifest["database"], manifest
    dumps = [path for path in source.iterdir() if path.is_dir()]
    if database is None and len(dumps) != 1:
        raise BackupError(f"{source} holds no manifest and not exactly one database folder")
    name = database or dumps[0].name
    collections = {
        path.stem: {"documents": None, "sha256": None} for path in (source / name).glob("*.bson")
    }
    return name, {"database": name, "collections": collections}


def documents(source: Path, database: str, collection: str) -> list[dict[str, Any]]:
    return bson.decode_all((source / database / f"{collection}.bson").read_bytes())


def verify_files(source: Path, database: str, manifest: dict[str, Any]) -> None:
    for name, expected in manifest["collections"].items():
        path = source / database / f"{name}.bson"
        if not path.exists():
            raise BackupError(f"{path} is missing")
        if expected["sha256"] and _sha256(path) != expected["sha256"]:
            raise BackupError(f"{path} does not match its checksum in the manifest: corrupt")


async def restore(
    client: AsyncMongoClient[Any], source: Path, *, database: str | None = None,
    drop: bool = False,
) -> list[CollectionReport]:
    """Restore every collection with its indexes. Each collection is loaded under a staging name
    and renamed over the real one only once complete and counted, so a failure leaves the
    previous collection (or none) in place, never a half-restored one, and says which."""
    name, manifest = read_backup(source, database)
    verify_files(source, name, manifest)
    db = client[database or name]
    existing = [c for c in await db.list_collection_names() if not c.startswith("system.")]
    if existing and not drop:
        raise BackupError(f"database {db.name!r} is not empty ({', '.join(sorted(existing))}); "
                          "restore with --drop to replace its collections")
    done: list[CollectionReport] = []
    for collection in sorted(manifest["collections"]):
        staging = db[collection + STAGING_SUFFIX]
        await staging.drop()
        try:
            docs = documents(source, name, collection)
            if docs:
                await staging.insert_many(docs, ordered=False)
            metadata_path = source / name / f"{collection}.metadata.json"
            if metadata_path.exists():
                for index in json_util.loads(metadata_path.read_text()).get("indexes", []):
                    if index["name"] == "_id_":
                        continue
                    options = {k: v for k, v in index.items() if k not in ("v", "key", "ns")}
                    try:
                        await staging.create_index(list(index["key"].items()), **options)
                    except OperationFailure as exc:
                        if exc.code != _NOT_IMPLEMENTED:
                            raise
                        log.warning("restore.index_skipped: the server cannot build it",
                                    extra={"fields": {"collection": collection,
                                                      "index": index["name"]}})
            count = await staging.count_documents({})
            expected = manifest["collections"][collection]["documents"]
            if expected is not None and count != expected:
                raise BackupError(f"{collection}: restored {count} documents, expected {expected}")
            await _replace(db, staging, collection)
        except (BackupError, OperationFailure) as exc:
            await staging.drop()
            restored = ", ".join(r.name for r in done) or "none"
            raise BackupError(f"restoring {collection} failed ({exc}); already restored: "
                              f"{restored}; {collection} and the rest are unchanged") from exc
        done.append(CollectionReport(collection, count, manifest["collections"][collection]
                                     ["sha256"] or ""))
    return done


async def load_into(store: Any, source: Path) -> dict[str, int]:
    """Load a backup into any store through its port (the memory store, for local debugging
    with production-shaped data). Returns the documents loaded per collection."""
    from app.store import documents as mongo  # the stored shape <-> domain objects

    name, manifest = read_backup(source)
    verify_files(source, name, manifest)
    loaded: dict[str, int] = {}
    present = set(manifest["collections"])

    def docs(collection: str) -> list[dict[str, Any]]:
        return documents(source, name, collection) if collection in present else []

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
    for collection in present:
        loaded[collection] = len(docs(collection))
    return loaded
