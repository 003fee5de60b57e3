"""The restore drill: a realistic data set (users, refresh tokens, families, tags, content) is
backed up with the CLI, the database is wiped and restored, and every document and index must
come back; the same backup also loads into the memory store for local debugging."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import bson
import pytest
from pymongo import MongoClient

from app.store.backup import load_into
from app.store.memory import MemoryStore
from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.service import REPO

pytestmark = pytest.mark.timeout(120)


async def seed(client) -> dict:
    """Through the API, as users would: accounts, sessions (one reused), tags, content."""
    admin = await client.post("/auth/login", json={"email": "root@example.org",
                                                   "password": PASSWORD})
    auth = {"Authorization": f"Bearer {(await admin.json())['data']['accessToken']}"}
    for slug in ("python", "databases", "security"):
        assert (await client.post("/admin/tags", json={"slug": slug, "name": slug.title()},
                                  headers=auth)).status == 201
    for n in range(40):
        body = {"title": f"Item {n}", "url": f"https://example.org/{n}",
                "tags": [("python", "databases", "security")[n % 3]], "isActive": n % 7 != 0}
        assert (await client.post("/admin/content", json=body, headers=auth)).status == 201
    for n in range(5):
        registered = await client.post("/auth/register", json={
            "email": f"user{n}@example.org", "password": PASSWORD})
        refresh = (await registered.json())["data"]["refreshToken"]
        rotated = await client.post("/auth/refresh", json={"refreshToken": refresh})
        assert rotated.status == 200
    await client.post("/auth/refresh", json={"refreshToken": refresh})  # a reuse: a revoked family
    catalog = await (await client.get("/catalog")).json()
    return catalog["data"]


def snapshot(uri: str, database: str) -> dict:
    with MongoClient(uri, tz_aware=True) as client:
        db = client[database]
        return {
            name: {
                "documents": list(db[name].find().sort("_id", 1)),
                "indexes": sorted((index["name"], bson.encode(index["key"]), index.get("unique"),
                                   index.get("sparse")) for index in db[name].list_indexes()),
            }
            for name in sorted(db.list_collection_names())
        }


def app_cli(settings, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "MONGO_URI": settings.mongo_uri.reveal(),
           "MONGO_DB": settings.mongo_db}
    return subprocess.run([sys.executable, "-m", "app", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_backup_wipe_restore_and_load_into_memory(aiohttp_client, mongo_settings, tmp_path):
    settings = make_settings(
        MONGO_URI=mongo_settings.mongo_uri.reveal(), MONGO_DB=mongo_settings.mongo_db,
        AUTH_ALLOW_SELF_REGISTRATION="true", BOOTSTRAP_ADMIN_EMAIL="root@example.org",
        BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    catalog = await seed(await aiohttp_client(create_app(settings)))
    before = snapshot(settings.mongo_uri.reveal(), settings.mongo_db)
    out = tmp_path / "backup"

    started = time.monotonic()
    backed_up = app_cli(settings, "backup", "--out", str(out))
    backup_seconds = time.monotonic() - started
    assert backed_up.returncode == 0, backed_up.stderr
    dump = out / settings.mongo_db
    for name in before:  # mongodump's layout
        assert (dump / f"{name}.bson").exists() and (dump / f"{name}.metadata.json").exists()
        assert len(bson.decode_all((dump / f"{name}.bson").read_bytes())) == len(
            before[name]["documents"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == 2 and manifest["collections"].keys() == before.keys()
    checked = app_cli(settings, "restore", "--from", str(out), "--check")  # files only
    assert checked.returncode == 0, checked.stderr
    assert [json.loads(line)["verified"] for line in checked.stdout.splitlines()] == sorted(before)

    refused = app_cli(settings, "restore", "--from", str(out))
    assert refused.returncode == 1 and "--drop" in refused.stderr  # the database is not empty

    with MongoClient(settings.mongo_uri.reveal()) as client:
        client.drop_database(settings.mongo_db)
    started = time.monotonic()
    restored = app_cli(settings, "restore", "--from", str(out))
    restore_seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.stderr
    after = snapshot(settings.mongo_uri.reveal(), settings.mongo_db)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name]["documents"] == before[name]["documents"], name
        assert after[name]["indexes"] == before[name]["indexes"], name

    # --drop over live data works too, and leaves no staging collection behind.
    again = app_cli(settings, "restore", "--from", str(out), "--drop")
    assert again.returncode == 0, again.stderr
    assert snapshot(settings.mongo_uri.reveal(), settings.mongo_db).keys() == before.keys()

    # The same backup, in the memory store: users log in, content and catalog are there.
    store = MemoryStore()
    loaded = await load_into(store, out)
    memory_app = await aiohttp_client(create_app(make_settings(), store=store))
    login = await memory_app.post("/auth/login", json={"email": "user3@example.org",
                                                       "password": PASSWORD})
    assert login.status == 200
    assert (await (await memory_app.get("/catalog")).json())["data"] == catalog
    documents = sum(len(c["documents"]) for c in before.values())
    indexes = sum(len(c["indexes"]) for c in before.values())
    print(f"restore drill: collections={len(before)} documents={documents} indexes={indexes} "
          f"backup_s={backup_seconds:.2f} restore_s={restore_seconds:.2f} "
          f"memory_loaded={sum(loaded.values())}")


def test_a_corrupt_backup_is_refused_and_changes_nothing(mongo_settings, tmp_path):
    settings = mongo_settings
    with MongoClient(settings.mongo_uri.reveal()) as client:
        client[settings.mongo_db].tags.insert_one({"_id": "t1", "slug": "x", "name": "X"})
    out = tmp_path / "backup"
    assert app_cli(settings, "backup", "--out", str(out)).returncode == 0
    with MongoClient(settings.mongo_uri.reveal()) as client:
        client.drop_database(settings.mongo_db)
    path = out / settings.mongo_db / "tags.bson"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    result = app_cli(settings, "restore", "--from", str(out))
    assert result.returncode == 1 and "checksum" in result.stderr
    with MongoClient(settings.mongo_uri.reveal()) as client:
        assert client[settings.mongo_db].list_collection_names() == []


def test_backup_needs_mongo(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "backup", "--out", str(tmp_path)],
                            cwd=REPO, env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and "MONGO_URI" in result.stderr
    assert not any(Path(tmp_path).iterdir())


def test_restore_into_another_database(mongo_settings, tmp_path):
    """`restore --db NAME` restores into NAME instead of MONGO_DB, with the same verification,
    the same refusal of a database that is not empty (without --drop) and the same required
    indexes; the configured database is not touched."""
    settings, uri = mongo_settings, mongo_settings.mongo_uri.reveal()
    with MongoClient(uri, tz_aware=True) as client:
        live = client[settings.mongo_db]
        live.users.insert_many([{"_id": f"u{n}", "email": f"user{n}@example.org",
                                 "passwordHash": "x", "roles": ["user"]} for n in range(3)])
        live.tags.insert_one({"_id": "t1", "slug": "python", "name": "Python"})
        live.tags.create_index("slug", unique=True)  # users.email is left to the restore
    out = tmp_path / "backup"
    assert app_cli(settings, "backup", "--out", str(out)).returncode == 0
    before = snapshot(uri, settings.mongo_db)
    other = f"{settings.mongo_db}_copy"
    try:
        restored = app_cli(settings, "restore", "--from", str(out), "--db", other)

        assert restored.returncode == 0, restored.stderr
        lines = [json.loads(line) for line in restored.stdout.splitlines()]
        assert {(line["restored"], line["database"]) for line in lines} == {
            ("tags", other), ("users", other)}
        copy = snapshot(uri, other)
        assert {name: c["documents"] for name, c in copy.items()} == {
            name: c["documents"] for name, c in before.items()}
        with MongoClient(uri) as client:
            assert client[other].users.index_information()["email_1"].get("unique") is True
        assert snapshot(uri, settings.mongo_db) == before

        refused = app_cli(settings, "restore", "--from", str(out), "--db", other)
        assert refused.returncode == 1
        [line] = [json.loads(line) for line in refused.stderr.splitlines()]
        assert f"database {other!r} is not empty" in line["message"]
        assert "--drop" in line["message"]
        dropped = app_cli(settings, "restore", "--from", str(out), "--db", other, "--drop")
        assert dropped.returncode == 0, dropped.stderr

        (out / settings.mongo_db / "users.bson").write_bytes(b"")  # fails verification
        damaged = app_cli(settings, "restore", "--from", str(out), "--db", f"{other}2")
        assert damaged.returncode == 1 and "users.bson" in damaged.stderr
        with MongoClient(uri) as client:
            assert f"{other}2" not in client.list_database_names()

        named = app_cli(settings, "restore", "--from", str(out), "--db", "a/b")
        assert named.returncode == 1
        [line] = [json.loads(line) for line in named.stderr.splitlines()]
        assert line["code"] == "validation.failed" and "--db" in line["message"]
    finally:
        with MongoClient(uri) as client:
            client.drop_database(other)
