"""Restore verifies everything before it changes anything: each way a backup can be damaged is
refused with one JSON line on stderr naming the file, a non-zero exit and the database
untouched; and what a restore writes is bounded in memory, carries the service's unique indexes
whatever the backup's metadata says, and decodes datetimes as UTC."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bson
import pytest
from bson import json_util
from pymongo import AsyncMongoClient, MongoClient, monitoring

from app.store import backup
from app.store.memory import MemoryStore
from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import free_port, make_settings
from tests.drills.test_restore_drill import REPO, app_cli, snapshot

pytestmark = pytest.mark.timeout(120)

CREATED = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def seed(uri: str, database: str) -> None:
    """A small database in the service's shape, with its unique indexes."""
    with MongoClient(uri, tz_aware=True) as client:
        db = client[database]
        db.users.insert_many([
            {"_id": f"u{n}", "email": f"user{n}@example.org", "passwordHash": "x",
             "roles": ["user"], "createdAt": CREATED, "updatedAt": CREATED} for n in range(3)])
        db.users.create_index("email", unique=True)
        db.tags.insert_one({"_id": "t1", "slug": "python", "name": "Python",
                            "createdAt": CREATED, "updatedAt": CREATED})
        db.tags.create_index("slug", unique=True)
        db.content.insert_many([
            {"_id": f"01JD{n:022}", "title": f"Item {n}", "url": f"https://example.org/{n}",
             "thumbnailUrl": None, "tags": ["python"], "isActive": True,
             "createdAt": CREATED + timedelta(minutes=n), "updatedAt": CREATED}
            for n in range(4)])


async def take_backup(settings, out: Path) -> Path:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_uri.reveal())
    try:
        await backup.backup(client, settings.mongo_db, out)
    finally:
        await client.close()
    return out / settings.mongo_db


def resign(out: Path) -> None:
    """Rewrite the manifest's sizes and checksums to the files as they are now (a backup that
    was written damaged, or a manifest forged to match), keeping its document counts."""
    manifest = json.loads((out / "manifest.json").read_text())
    folder = out / manifest["database"]
    for name, entry in manifest["collections"].items():
        for part, suffix in (("bson", ".bson"), ("metadata", ".metadata.json")):
            data = (folder / f"{name}{suffix}").read_bytes()
            entry[part] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (out / "manifest.json").write_text(json.dumps(manifest))


def edit_manifest(out: Path, change: Callable[[dict], object]) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    replaced = change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest if replaced is None else replaced))


def truncate(path: Path, by: int = 10) -> None:
    path.write_bytes(path.read_bytes()[:-by])


def edit_metadata(dump: Path, change: Callable[[dict], None]) -> None:
    path = dump / "users.metadata.json"
    metadata = json_util.loads(path.read_text())
    change(metadata)
    path.write_text(json_util.dumps(metadata))


def same_size_edit(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"email_1"', b'"emaiL_1"'))


def bad_element(dump: Path) -> None:
    # A well-framed document holding an element of type 0x20, which BSON does not define.
    with (dump / "users.bson").open("ab") as sink:
        sink.write((8).to_bytes(4, "little") + b"\x20a\x00\x00")


# Each case: how the backup is damaged, the file the refusal must name, words it must say.
CASES = {
    "metadata file missing": (lambda out, dump: (dump / "users.metadata.json").unlink(),
                              "users.metadata.json", "missing"),
    "manifest missing": (lambda out, dump: (out / "manifest.json").unlink(),
                         "manifest.json", "missing"),
    "bson truncated, no manifest": (
        lambda out, dump: (truncate(dump / "users.bson"), (out / "manifest.json").unlink()),
        "manifest.json", "missing"),
    "bson truncated": (lambda out, dump: truncate(dump / "users.bson"),
                       "users.bson", "truncated"),
    "bson truncated, manifest matching": (
        lambda out, dump: (truncate(dump / "users.bson"), resign(out)),
        "users.bson", "truncated"),
    "bson element that does not decode, manifest matching": (
        lambda out, dump: (bad_element(dump), resign(out)), "users.bson", "does not decode"),
    "manifest not JSON": (lambda out, dump: (out / "manifest.json").write_text('{"format": 2,'),
                          "manifest.json", "not valid JSON"),
    "manifest a list": (lambda out, dump: edit_manifest(out, lambda m: [m]),
                        "manifest.json", "wrong shape"),
    "manifest of format 1": (
        lambda out, dump: edit_manifest(out, lambda m: {
            "database": m["database"], "collections": {
                name: {"documents": c["documents"], "sha256": c["bson"]["sha256"]}
                for name, c in m["collections"].items()}}),
        "manifest.json", "format"),
    "manifest count not a number": (
        lambda out, dump: edit_manifest(
            out, lambda m: m["collections"]["users"].update(documents="3")),
        "manifest.json", "collections.users.documents"),
    "manifest naming a path": (
        lambda out, dump: edit_manifest(
            out, lambda m: m["collections"].update({"../users": m["collections"]["users"]})),
        "manifest.json", "not a collection name"),
    "metadata checksum mismatch": (lambda out, dump: same_size_edit(dump / "users.metadata.json"),
                                   "users.metadata.json", "SHA-256"),
    "metadata not JSON, manifest matching": (
        lambda out, dump: ((dump / "users.metadata.json").write_text("{"), resign(out)),
        "users.metadata.json", "not valid"),
    "metadata of wrong shape, manifest matching": (
        lambda out, dump: (edit_metadata(dump, lambda m: m.update(indexes={})), resign(out)),
        "users.metadata.json", "wrong shape"),
    "document count mismatch": (
        lambda out, dump: edit_manifest(
            out, lambda m: m["collections"]["users"].update(documents=4)),
        "users.bson", "holds 3 documents, the manifest says 4"),
    "a file the manifest does not list": (
        lambda out, dump: (dump / "extra.bson").write_bytes(b""), "extra.bson", "not in the"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_damaged_backup_is_refused_in_one_line_and_changes_nothing(
    case, mongo_settings, tmp_path
):
    damage, file, words = CASES[case]
    uri, database = mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db
    seed(uri, database)
    out = tmp_path / "backup"
    dump = await take_backup(mongo_settings, out)
    with MongoClient(uri) as client:  # the live data now differs from the backup
        client[database].users.delete_one({"_id": "u0"})
        client[database].tags.insert_one({"_id": "t2", "slug": "go", "name": "Go"})
    damage(out, dump)
    before = snapshot(uri, database)

    result = app_cli(mongo_settings, "restore", "--from", str(out), "--drop")

    assert result.returncode == 1, result.stderr
    message = refusal(result)
    assert file in message and words in message, message
    assert snapshot(uri, database) == before
    checked = app_cli(mongo_settings, "restore", "--from", str(out), "--check")
    assert checked.returncode == 1 and refusal(checked) == message


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The message of the one line a refused restore writes: JSON, as every CLI failure."""
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    failed = json.loads(line)
    assert (failed["level"], failed["msg"], failed["command"]) == ("error", "cli.failed",
                                                                   "restore")
    return failed["message"]


async def test_data_the_required_indexes_refuse_is_refused_and_changes_nothing(
    mongo_settings, tmp_path
):
    """Two accounts with one email and no unique index in the metadata: the service's unique
    index is built on the staged copy, fails there, and the live collections stay as they were."""
    uri, database = mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db
    seed(uri, database)
    out = tmp_path / "backup"
    dump = await take_backup(mongo_settings, out)
    with (dump / "users.bson").open("ab") as sink:
        sink.write(bson.encode({"_id": "u9", "email": "user1@example.org", "passwordHash": "x",
                                "roles": ["user"], "createdAt": CREATED, "updatedAt": CREATED}))
    edit_metadata(dump, lambda m: m.update(indexes=[i for i in m["indexes"]
                                                    if i["name"] == "_id_"]))
    edit_manifest(out, lambda m: m["collections"]["users"].update(documents=4))
    resign(out)
    before = snapshot(uri, database)

    result = app_cli(mongo_settings, "restore", "--from", str(out), "--drop")

    assert result.returncode == 1, result.stderr
    message = refusal(result)
    assert message.startswith("restoring users failed (") and "not changed" in message, message
    assert snapshot(uri, database) == before  # no staging collection left either


@pytest.mark.parametrize("metadata", ["without the email index", "with a non-unique email_1"])
async def test_restore_builds_the_unique_indexes_whatever_the_metadata_says(
    metadata, aiohttp_client, mongo_settings, tmp_path
):
    uri, database = mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db
    settings = make_settings(MONGO_URI=uri, MONGO_DB=database, AUTH_ALLOW_SELF_REGISTRATION="true")
    seed(uri, database)
    out = tmp_path / "backup"
    dump = await take_backup(settings, out)

    def weaken(m: dict) -> None:
        indexes = [i for i in m["indexes"] if i["name"] != "email_1"]
        if metadata != "without the email index":
            indexes.append({"v": 2, "key": {"email": 1}, "name": "email_1"})
        m["indexes"] = indexes

    edit_metadata(dump, weaken)
    resign(out)
    client = await aiohttp_client(create_app(settings))  # a running service, already prepared
    assert (await client.get("/health")).status == 200

    restored = app_cli(settings, "restore", "--from", str(out), "--drop")

    assert restored.returncode == 0, restored.stderr
    with MongoClient(uri) as mongo:
        assert mongo[database].users.index_information()["email_1"].get("unique") is True
        assert mongo[database].tags.index_information()["slug_1"].get("unique") is True
    again = await client.post("/auth/register", json={"email": "user1@example.org",
                                                      "password": PASSWORD})
    assert again.status == 409
    with MongoClient(uri) as mongo:
        assert mongo[database].users.count_documents({"email": "user1@example.org"}) == 1


class _Inserts(monitoring.CommandListener):
    def __init__(self) -> None:
        self.batches: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.batches.append(len(event.command.get("documents", [])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_large_collection_is_restored_in_batches_in_bounded_memory(
    mongo_settings, tmp_path
):
    uri, database = mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db
    documents = 5000
    with MongoClient(uri) as client:
        client[database].content.insert_many([
            {"_id": f"c{n:05}", "title": f"Item {n}", "url": f"https://example.org/{n}",
             "notes": "x" * 2000, "tags": [], "isActive": True, "createdAt": CREATED,
             "updatedAt": CREATED} for n in range(documents)])
    out = tmp_path / "backup"
    dump = await take_backup(mongo_settings, out)
    file_bytes = (dump / "content.bson").stat().st_size
    with MongoClient(uri) as client:
        client.drop_database(database)

    inserts = _Inserts()
    client: AsyncMongoClient = AsyncMongoClient(uri, event_listeners=[inserts])
    try:
        started = time.monotonic()
        [report] = await backup.restore(client, out)
        seconds = time.monotonic() - started
        tracemalloc.start()  # a second time, over the first (--drop), measured
        await backup.restore(client, out, drop=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await client.close()

    assert report.documents == documents
    with MongoClient(uri) as mongo:
        assert mongo[database].content.count_documents({}) == documents
        assert mongo[database].list_collection_names() == ["content"]
    assert inserts.batches == [1000] * 10  # 5 per restore: backup.BATCH_DOCUMENTS each
    # Never the whole file (5 batches' worth): a batch and its encoded message, at most.
    one_batch = file_bytes * 1000 / documents
    assert peak < 3 * one_batch < file_bytes, (peak, one_batch)
    print(f"restore of {documents} documents ({file_bytes / 1e6:.1f} MB): {seconds:.2f} s, "
          f"{len(inserts.batches) // 2} inserts of 1000 documents, peak traced memory "
          f"{peak / 1e6:.1f} MB")


async def test_load_into_decodes_datetimes_as_utc(aiohttp_client, mongo_settings, tmp_path):
    """`serve --from-backup` shows the same timestamps as the service on MongoDB: with `Z`."""
    seed(mongo_settings.mongo_uri.reveal(), mongo_settings.mongo_db)
    out = tmp_path / "backup"
    await take_backup(mongo_settings, out)
    store = MemoryStore()

    loaded = await backup.load_into(store, out)

    assert loaded == {"content": 4, "tags": 1, "users": 3}
    user = await store.get_user_by_email("user1@example.org")
    assert user is not None and user.created_at == CREATED
    assert user.created_at.utcoffset() == timedelta(0)
    client = await aiohttp_client(create_app(make_settings(), store=store))
    item = (await (await client.get(f"/content/01JD{1:022}")).json())["data"]
    assert item["createdAt"] == "2026-11-28T09:31:00.000Z"


async def test_load_into_refuses_a_backup_without_manifest(tmp_path):
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "users.bson").write_bytes(b"")
    with pytest.raises(backup.BackupError, match=r"manifest\.json: missing"):
        await backup.load_into(MemoryStore(), tmp_path)


def test_serve_from_a_broken_backup_is_one_line_and_a_non_zero_exit(tmp_path):
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "users.bson").write_bytes(b"\x05\x00")
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "development", "PORT": str(free_port()),
           "HOST": "127.0.0.1"}
    done = subprocess.run([sys.executable, "-m", "app", "serve", "--from-backup", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: --from-backup: ") and "manifest.json" in line, line
