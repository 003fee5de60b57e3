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
leaves the database as it was; the message names the file and the problem.

On a replica set the backup reads every collection in one snapshot session (a consistent point in
time); on a standalone server (FerretDB, a single mongod) it says that it cannot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from app.store.mongo import required_indexes

log = logging.getLogger("app.backup")
MANIFEST = "manifest.json"
FORMAT = 2  # 1 (no "format" key) checksummed only the .bson files
STAGING_SUFFIX = "__restoring"
# A batch stays far below the server's 48 MB message limit and bounds what a restore holds.
BATCH_DOCUMENTS = 1000
BATCH_BYTES = 4 << 20
_NOT_IMPLEMENTED = 238  # e.g. TTL indexes on FerretDB v1
_MAX_DOCUMENT = (16 << 20) + (16 << 10)  # the server's limit, with its internal headroom
# Datetimes come back aware (UTC), as the store's own client decodes them.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Names that are safe as file names and are not the server's own or our staging collections.
_COLLECTION = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,119}")


class BackupError(Exception):
    """Something an operator must know: one line saying what and what to do."""


@dataclass(frozen=True, slots=True)
class CollectionReport:
    name: str
    documents: int
    sha256: str


@dataclass(frozen=True, slots=True)
class VerifiedCollection:
    name: str
    documents: int
    data: Path
    sha256: str
    indexes: list[dict[str, Any]]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _raw_documents(path: Path) -> Iterator[bytes]:
    """The documents of a .bson file one at a time, undecoded: memory holds one document."""
    with path.open("rb") as source:
        offset = 0
        while head := source.read(4):
            size = int.from_bytes(head, "little")
            if len(head) < 4 or not 5 <= size <= _MAX_DOCUMENT:
                raise BackupError(f"{path}: no valid document at byte {offset} (truncated or "
                                  "not BSON)")
            body = source.read(size - 4)
            if len(body) < size - 4:
                raise BackupError(f"{path}: truncated: the document at byte {offset} is cut short")
            yield head + body
            offset += size


def _file_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


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


# Verification: files only, no database.


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _manifest(source: Path) -> tuple[str, dict[str, Any]]:
    """The database folder and the collections of a well-formed manifest, or one BackupError."""
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{path}: missing; a backup without its manifest cannot be verified "
                          "(a plain mongodump restores with mongorestore)")
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError as exc:
        raise BackupError(f"{path}: not valid JSON ({exc})") from None

    def wrong(what: str) -> BackupError:
        return BackupError(f"{path}: wrong shape: {what}")

    if not isinstance(manifest, dict):
        raise wrong("not a JSON object")
    if manifest.get("format") != FORMAT:
        raise wrong(f"format is {manifest.get('format')!r}, expected {FORMAT} (a manifest from "
                    "before format 2 does not cover the metadata files: take a new backup)")
    database = manifest.get("database")
    if not isinstance(database, str) or not _COLLECTION.fullmatch(database):
        raise wrong("database must be a database name")
    collections = manifest.get("collections")
    if not isinstance(collections, dict):
        raise wrong("collections must be an object")
    for name, entry in collections.items():
        if not _COLLECTION.fullmatch(name) or name.endswith(STAGING_SUFFIX):
            raise wrong(f"{name!r} is not a collection name")
        if not isinstance(entry, dict) or not _is_count(entry.get("documents")):
            raise wrong(f"collections.{name}.documents must be a count")
        for part in ("bson", "metadata"):
            file = entry.get(part)
            if not (isinstance(file, dict) and _is_count(file.get("bytes"))
                    and isinstance(file.get("sha256"), str) and _SHA256.fullmatch(file["sha256"])):
                raise wrong(f"collections.{name}.{part} must be {{bytes, sha256}}")
    return database, collections


def _check_file(path: Path, expected: dict[str, Any]) -> None:
    if not path.is_file():
        raise BackupError(f"{path}: missing (the manifest lists it)")
    size = path.stat().st_size
    if size != expected["bytes"]:
        raise BackupError(f"{path}: {size} bytes, the manifest says {expected['bytes']} "
                          "(truncated or changed)")
    if _sha256(path) != expected["sha256"]:
        raise BackupError(f"{path}: SHA-256 checksum does not match the manifest (corrupt or "
                          "changed)")


def _count_documents(path: Path) -> int:
    """Decode every document (as the restore will need them) and count them."""
    count = 0
    for raw in _raw_documents(path):
        try:
            document = bson.decode(raw, CODEC)
        except (BSONError, ValueError, TypeError, OverflowError) as exc:
            raise BackupError(f"{path}: document {count + 1} does not decode "
                              f"({_one_line(exc)})") from None
        if "_id" not in document:
            raise BackupError(f"{path}: document {count + 1} has no _id")
        count += 1
    return count


def _indexes(path: Path, collection: str) -> list[dict[str, Any]]:
    """The indexes of a metadata file, checked for the shape a restore needs."""
    try:
        metadata = json_util.loads(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError, BSONError) as exc:
        raise BackupError(f"{path}: not valid extended JSON ({_one_line(exc)})") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("indexes"), list):
        raise BackupError(f"{path}: wrong shape: no list of indexes")
    if metadata.get("collectionName", collection) != collection:
        raise BackupError(f"{path}: describes collection {metadata['collectionName']!r}")
    for index in metadata["indexes"]:
        if not (isinstance(index, dict) and isinstance(index.get("name"), str)
                and isinstance(index.get("key"), dict) and index["key"]
                and all(isinstance(v, int | float | str) for v in index["key"].values())):
            raise BackupError(f"{path}: wrong shape: an index without a name and a key")
    return list(metadata["indexes"])


def verify(source: Path) -> tuple[str, list[VerifiedCollection]]:
    """Check every file of a backup; raise one BackupError naming the first file at fault."""
    try:
        return _verify(source)
    except OSError as exc:  # unreadable: permissions, an I/O error
        raise BackupError(f"{exc.filename or source}: cannot be read ({exc.strerror})") from None


def _verify(source: Path) -> tuple[str, list[VerifiedCollection]]:
    database, collections = _manifest(source)
    folder = source / database
    listed = {f"{name}{suffix}" for name in collections for suffix in (".bson", ".metadata.json")}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.name not in listed:
                raise BackupError(f"{path}: not in the manifest (a file added to the backup?)")
    verified = []
    for name, entry in sorted(collections.items()):
        data, metadata = folder / f"{name}.bson", folder / f"{name}.metadata.json"
        _check_file(data, entry["bson"])
        _check_file(metadata, entry["metadata"])
        count = _count_documents(data)
        if count != entry["documents"]:
            raise BackupError(f"{data}: holds {count} documents, the manifest says "
                              f"{entry['documents']}")
        verified.append(VerifiedCollection(name, count, data, entry["bson"]["sha256"],
                                           _indexes(metadata, name)))
    return database, verified


def _one_line(exc: BaseException) -> str:
    """The server's own message, without the full reply pymongo appends."""
    text = str(exc)
    if isinstance(exc, BulkWriteError):
        text = ((exc.details.get("writeErrors") or [{}])[0]).get("errmsg", text)
    elif isinstance(exc, OperationFailure):
        text = (exc.details or {}).get("errmsg") or text
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


# Writing: staged, batched, swapped in at the end.


async def _load(staging: Any, collection: VerifiedCollection) -> None:
    """Stream the file into the staging collection in batches, re-hashing as it goes: the file
    must still be the one verified."""
    digest = hashlib.sha256()
    batch: list[RawBSONDocument] = []
    size = 0
    for raw in _raw_documents(collection.data):
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
        raise BackupError(f"restoring {staged[-1]} failed ({_one_line(exc)}); the database "
                          "was not changed") from exc
    done: list[CollectionReport] = []
    for collection in collections:
        try:
            await _replace(db, db[collection.name + STAGING_SUFFIX], collection.name)
        except PyMongoError as exc:
            await _drop_staging(db, [c.name for c in collections[len(done):]])
            replaced = ", ".join(r.name for r in done) or "none"
            raise BackupError(f"replacing {collection.name} failed ({_one_line(exc)}); already "
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
            for raw in _raw_documents(files[collection]):
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
