"""Checking a backup's files against its manifest, without a database: step (1) of a restore.

Everything a restore will read is checked before anything is written: the manifest's shape, that
it lists exactly the files present, each file's size and SHA-256, that every document decodes and
has an _id, the counts, the indexes of the metadata. The first fault raises one `BackupError`
naming the file. Apart from `app.store.backup` (writing and restoring) because it needs no
server (`restore --check`, `serve --from-backup`); the format's constants live here, beside the
checks that enforce them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from pymongo.errors import BulkWriteError, OperationFailure

MANIFEST = "manifest.json"
FORMAT = 2  # 1 (no "format" key) checksummed only the .bson files
STAGING_SUFFIX = "__restoring"
_MAX_DOCUMENT = (16 << 20) + (16 << 10)  # the server's limit, with its internal headroom
# Datetimes come back aware (UTC), as the store's own client decodes them.
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Names that are safe as file names and are not the server's own or our staging collections.
_COLLECTION = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,119}")


class BackupError(Exception):
    """Something an operator must know: one line saying what and what to do."""


@dataclass(frozen=True, slots=True)
class VerifiedCollection:
    name: str
    documents: int
    data: Path
    sha256: str
    indexes: list[dict[str, Any]]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def raw_documents(path: Path) -> Iterator[bytes]:
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
    if sha256_of(path) != expected["sha256"]:
        raise BackupError(f"{path}: SHA-256 checksum does not match the manifest (corrupt or "
                          "changed)")


def _count_documents(path: Path) -> int:
    """Decode every document (as the restore will need them) and count them."""
    count = 0
    for raw in raw_documents(path):
        try:
            document = bson.decode(raw, CODEC)
        except (BSONError, ValueError, TypeError, OverflowError) as exc:
            raise BackupError(f"{path}: document {count + 1} does not decode "
                              f"({one_line(exc)})") from None
        if "_id" not in document:
            raise BackupError(f"{path}: document {count + 1} has no _id")
        count += 1
    return count


def _indexes(path: Path, collection: str) -> list[dict[str, Any]]:
    """The indexes of a metadata file, checked for the shape a restore needs."""
    try:
        metadata = json_util.loads(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError, BSONError) as exc:
        raise BackupError(f"{path}: not valid extended JSON ({one_line(exc)})") from None
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


def one_line(exc: BaseException) -> str:
    """The server's own message, without the full reply pymongo appends."""
    text = str(exc)
    if isinstance(exc, BulkWriteError):
        text = ((exc.details.get("writeErrors") or [{}])[0]).get("errmsg", text)
    elif isinstance(exc, OperationFailure):
        text = (exc.details or {}).get("errmsg") or text
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."
