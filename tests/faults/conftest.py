"""One rig for the whole fault matrix: FerretDB (authentication on) behind Toxiproxy, the real
service on the proxy with a Sentry DSN pointing at a loopback receiver, and a real Prometheus
scraping it every second with the real alert rules."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.auth.conftest import PASSWORD
from tests.conftest import require_or_skip
from tests.faults import rig as parts
from tests.faults.load import request
from tests.faults.toxiproxy import Toxiproxy, find_binary
from tests.faults.toxiproxy import Unavailable as NoToxiproxy
from tests.prometheus_server import Prometheus
from tests.service import ServiceProcess

PROXY = "mongo"
ADMIN_EMAIL = "faults@example.org"
# The service's settings under test: fast timeouts and pings, so a fault shows within seconds.
MONGO_TIMEOUT_MS = 500
DEPENDENCY_PING_SECONDS = 0.5


@dataclass
class Rig:
    database: parts.AuthFerretDB
    proxy: Toxiproxy
    sentry: parts.SentryThread
    service: ServiceProcess
    prometheus: Prometheus
    token: str
    content_id: str

    def alerts(self, name: str) -> list[str]:
        """The states ("pending", "firing") of the named alert in Prometheus."""
        return [alert["state"] for alert in self.prometheus.api("alerts")["alerts"]
                if alert["labels"]["alertname"] == name]


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    if shutil.which("prometheus") is None:
        require_or_skip("Prometheus is not installed (apt-get install prometheus)")
    try:
        proxy_binary = find_binary()
        database = parts.AuthFerretDB(parts.build_ferretdb())
    except (NoToxiproxy, parts.Unavailable) as exc:
        require_or_skip(str(exc))
    with ExitStack() as stack:  # torn down in reverse order
        stack.callback(database.close)
        sentry = parts.SentryThread()
        stack.callback(sentry.stop)
        proxy = Toxiproxy(proxy_binary)
        stack.callback(proxy.stop)
        database.start()
        sentry.start()
        proxy.start()
        port = proxy.create(PROXY, database.address)
        service = ServiceProcess(
            MONGO_URI=f"mongodb://{parts.SERVICE_USER}:{parts.SERVICE_PASSWORD}"
                      f"@127.0.0.1:{port}/?authSource=admin",
            MONGO_DB="faults", MONGO_TIMEOUT_MS=str(MONGO_TIMEOUT_MS),
            DEPENDENCY_PING_SECONDS=str(DEPENDENCY_PING_SECONDS), CATALOG_REFRESH_SECONDS="1",
            BOOTSTRAP_ADMIN_EMAIL=ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
            SENTRY_DSN=sentry.dsn,
        )
        stack.push(service)  # its __exit__ stops it and removes its log
        prometheus = Prometheus([f"127.0.0.1:{service.port}"])
        stack.callback(prometheus.stop)
        try:
            service.start(wait_for="/ready")
            prometheus.start()
            yield Rig(database, proxy, sentry, service, prometheus, *prepare(service))
        except BaseException:
            for name, log in (("service", service.output()[-3000:]), ("Toxiproxy", proxy.log()),
                              ("FerretDB", database.log()), ("Prometheus", prometheus.log())):
                print(f"--- {name} log (tail)\n{log[-3000:]}")
            raise


def prepare(service: ServiceProcess) -> tuple[str, str]:
    """The bootstrap admin's token, and one content item for /content/{id}."""
    status, login = request(service.url + "/auth/login", "POST",
                            {"email": ADMIN_EMAIL, "password": PASSWORD})
    assert status == 200, login
    token = login["data"]["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    status, body = request(service.url + "/admin/tags", "POST",
                           {"slug": "faults", "name": "Faults"}, auth)
    assert status == 201, body
    status, body = request(service.url + "/admin/content", "POST", {
        "title": "Fault matrix", "url": "https://example.org/faults", "tags": ["faults"],
    }, auth)
    assert status == 201, body
    return token, body["data"]["id"]
