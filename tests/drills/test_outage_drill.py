"""The outage drill: MongoDB (FerretDB) is killed for ~10 s under steady load from another
process, then restarted. The service must say so on its probes, fail fast and cleanly, keep
serving what does not need the database (the catalog, and /content from its in-memory snapshot),
recover by itself, and lose no acknowledged write."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from tests.auth.conftest import PASSWORD
from tests.helpers import call
from tests.mongo_server import FerretDB
from tests.service import ServiceProcess

pytestmark = pytest.mark.timeout(120)
TIMEOUT_MS = 1000
BEFORE, OUTAGE, AFTER = 4.0, 10.0, 7.0
DB_PATHS = ("/admin/content",)
# Served from memory: the catalog cache and the content snapshot (issue 15).
MEMORY_PATHS = ("/catalog", "/meta", "/content?limit=5")


def test_mongo_outage_under_load(mongo_server, tmp_path):
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("kills its database: needs FerretDB, not MONGO_TEST_URI")
    database = FerretDB(mongo_server.binary)
    database.start()
    service = ServiceProcess(
        APP_ENV="test", MONGO_URI=database.uri, MONGO_DB="drill",
        MONGO_TIMEOUT_MS=str(TIMEOUT_MS), DEPENDENCY_PING_SECONDS="0.5",
        CATALOG_REFRESH_SECONDS="1",
        BOOTSTRAP_ADMIN_EMAIL="drill@example.org", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    events_path = tmp_path / "events.jsonl"
    try:
        service.start()
        _, login = call(service.url + "/auth/login", "POST",
                        {"email": "drill@example.org", "password": PASSWORD})
        token = login["data"]["accessToken"]
        status, _ = call(service.url + "/admin/tags", "POST", {"slug": "drill", "name": "Drill"},
                         headers={"Authorization": f"Bearer {token}"})
        assert status == 201
        load = subprocess.Popen([sys.executable, str(Path(__file__).with_name("load.py")),
                                 service.url, token, str(BEFORE + OUTAGE + AFTER),
                                 str(events_path)])
        time.sleep(BEFORE)
        killed_at = time.time()  # wall clock: the load process stamps its events the same way
        database.kill()
        time.sleep(OUTAGE)
        restarted_at = time.time()
        database.start()
        assert load.wait(timeout=60) == 0

        events = [json.loads(line) for line in events_path.read_text().splitlines()]
        requests = [e for e in events if e["kind"] == "request"]
        gauge = [e for e in events if e["kind"] == "gauge"]
        acknowledged = {e["id"] for e in requests if e.get("id")}
        with MongoClient(database.uri) as client:
            stored = {doc["_id"] for doc in client.drill.content.find({}, {"_id": 1})}
        figures = analyse(requests, gauge, killed_at, restarted_at)
        figures["writes_acknowledged"] = len(acknowledged)
        figures["writes_lost"] = len(acknowledged - stored)
        print("outage drill: " + ", ".join(f"{k}={v}" for k, v in figures.items()))

        assert figures["requests"] > 200
        assert figures["answers_500"] == 0
        assert figures["probes_503_after_s"] is not None and figures["probes_503_after_s"] <= 2.0
        assert figures["db_503"] > 0 and figures["db_slowest_s"] <= TIMEOUT_MS / 1000 + 1.0
        assert figures["cached_non_200_during_outage"] == 0
        assert figures["content_200_during_outage"] > 0  # /content was asked, and answered
        assert figures["gauge_went_0"] and figures["gauge_back_to_1"]
        assert figures["recovered_after_s"] is not None and figures["recovered_after_s"] <= 5.0
        assert figures["writes_acknowledged"] > 20 and figures["writes_lost"] == 0
    finally:
        service.stop()
        database.close()


def analyse(requests: list[dict], gauge: list[dict], killed: float, restarted: float) -> dict:
    during = [e for e in requests if killed + 0.1 < e["at"] < restarted]
    probes = sorted((e for e in requests if e["path"] in ("/health", "/ready")
                     and e["at"] >= killed), key=lambda e: e["at"] + e["duration"])
    first_probe_503 = next((e for e in probes if e["status"] == 503), None)
    db_during = [e for e in during if e["path"] in DB_PATHS]
    cached_during = [e for e in during if e["path"] in MEMORY_PATHS]
    recovered = next((e for e in sorted(requests, key=lambda e: e["at"])
                      if e["at"] > restarted and e["path"] == "/admin/content"
                      and e["status"] == 201), None)
    return {
        "requests": len(requests),
        "answers_500": sum(1 for e in requests if e["status"] == 500),
        "no_answer": sum(1 for e in requests if e["status"] == 0),
        "probes_503_after_s": round(first_probe_503["at"] + first_probe_503["duration"] - killed,
                                    2) if first_probe_503 else None,
        "db_503": sum(1 for e in db_during if e["status"] == 503
                      and e.get("code") == "dependency.unavailable"),
        "db_other_during_outage": sorted({(e["status"], e.get("code")) for e in db_during
                                          if e["status"] != 503}),
        "db_slowest_s": round(max((e["duration"] for e in db_during), default=0), 2),
        "cached_200_during_outage": sum(1 for e in cached_during if e["status"] == 200),
        "cached_non_200_during_outage": sum(1 for e in cached_during if e["status"] != 200),
        "content_200_during_outage": sum(1 for e in cached_during
                                         if e["path"] == "/content?limit=5" and e["status"] == 200),
        "gauge_went_0": any(g["value"] == 0 for g in gauge if killed < g["at"] < restarted),
        "gauge_back_to_1": any(g["value"] == 1 for g in gauge if g["at"] > restarted),
        "recovered_after_s": round(recovered["at"] - restarted, 2) if recovered else None,
    }
