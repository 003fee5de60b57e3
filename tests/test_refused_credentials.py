"""A database that refuses the service's credentials is an outage with a clear reason, not a
crash: the real service (`python -m app`) starts, answers 503 where it needs the database, says
once that authentication failed (which server refused whose credentials), keeps trying, and stops
cleanly.

FerretDB v1, embedded as the tests run it, has no users to check credentials against, but it
refuses every SCRAM conversation with code 18 AuthenticationFailed: what a MongoDB answers to a
wrong password, through the real driver and the real wire protocol."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from app.web.health import NOT_REQUIRED
from tests.helpers import call
from tests.mongo_server import FerretDB
from tests.service import ServiceProcess

PASSWORD = "wrong-pw-canary-Zq81"


def test_refused_credentials_at_start_serve_503_and_say_so_once(mongo_server):
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("needs a server that refuses these credentials: FerretDB, not MONGO_TEST_URI")
    parts = urlsplit(mongo_server.uri)
    uri = urlunsplit(parts._replace(netloc=f"catalog:{PASSWORD}@{parts.netloc}"))
    service = ServiceProcess(APP_ENV="test", MONGO_URI=uri, MONGO_DB="refused",
                             MONGO_TIMEOUT_MS="500", DEPENDENCY_PING_SECONDS="0.2",
                             CATALOG_REFRESH_SECONDS="0.5")
    service.start(wait_for="/meta")  # /health is 503 by design here
    try:
        status, body = call(service.url + "/health")
        assert status == 503, body
        assert body["data"]["checks"]["store"] == "unavailable: authentication"
        status, body = call(service.url + "/content")
        assert (status, body["error"]["code"]) == (503, "dependency.unavailable")
        time.sleep(1.5)  # several pings and refreshes, all refused
        status, _ = call(service.url + "/health")
        assert status == 503
        # Never primed, so not ready; the store's state (from the pings) is reported beside it.
        status, body = call(service.url + "/ready")
        assert status == 503, body
        assert body["data"]["checks"]["catalog"] == "not primed"
        assert body["data"]["checks"]["store"] == f"unavailable: authentication ({NOT_REQUIRED})"
        assert service.stop() == 0  # a clean stop: it never crashed
    finally:
        service.__exit__(None, None, None)  # stops it if still running; keeps its output
    lines = service.log_lines()
    # At start and while running, the same fields: why (`reason`) and what to act on (`detail`:
    # the server, and whose credentials it refused; never the password).
    why = ("mongo", "authentication",
           f'127.0.0.1:{mongo_server.port} refused the credentials of user "catalog"')
    (start,) = [line for line in lines if line["msg"].startswith("store.prepare_pending")]
    assert (start["level"], start["dependency"], start["reason"], start["detail"]) == (
        "warn", *why)
    downs = [line for line in lines if line["msg"] == "dependency.down"]
    assert [(d["level"], d["dependency"], d["reason"], d["detail"]) for d in downs] == [
        ("error", *why)]
    assert not [line for line in lines if line["msg"] == "dependency.unavailable"]
    assert "Traceback" not in service.output()
    assert PASSWORD not in service.output()
