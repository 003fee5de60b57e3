"""Two instances on one MongoDB-compatible store behind nginx (round robin, loopback), scraped by
a real Prometheus: one rate limit across both, a catalog that converges, SLO rules that
aggregate both, and ApiInstanceDown when one stops while the other keeps serving."""

from __future__ import annotations

import shutil
import time

import pytest

from app.identity import NAME
from generate.spec import load_context
from tests.auth.conftest import PASSWORD
from tests.conftest import require_or_skip
from tests.helpers import call, wait_until
from tests.mongo_server import FerretDB
from tests.prometheus_server import Prometheus
from tests.scale.nginx import answers, nginx, requests_on
from tests.service import ServiceProcess

pytestmark = pytest.mark.timeout(300)
LIMIT = 40  # anonymous requests per minute per client, across all instances
REFRESH_SECONDS = 2.0

def test_two_instances_behind_nginx(mongo_server, tmp_path):
    for tool in ("nginx", "prometheus"):
        if shutil.which(tool) is None:
            require_or_skip(f"{tool} is not installed (apt-get install {tool})")
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("stops its own database: needs FerretDB, not MONGO_TEST_URI")
    database = FerretDB(mongo_server.binary)
    database.start()
    env = dict(
        APP_ENV="test", MONGO_URI=database.uri, MONGO_DB="scale", RATE_LIMIT_BACKEND="mongo",
        RATE_LIMIT_ANON_PER_MINUTE=str(LIMIT), TRUST_PROXY_HOPS="1",
        CATALOG_REFRESH_SECONDS=str(REFRESH_SECONDS), DEPENDENCY_PING_SECONDS="0.5",
        MONGO_TIMEOUT_MS="300",  # step 3's outage answers quickly
        BOOTSTRAP_ADMIN_EMAIL="scale@example.org", BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    a, b = ServiceProcess(**env), ServiceProcess(**env)
    proxy = prometheus = None
    try:
        a.start()
        b.start()
        proxy, url = nginx(tmp_path, a.port, b.port)
        prometheus = Prometheus([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]).start()

        # 1. One client, requests alternating between instances, one limit.
        if time.time() % 60 > 45:  # the limit's window is the minute: do not straddle two
            time.sleep(61 - time.time() % 60)
        meta_before = requests_on(a.url, "/meta"), requests_on(b.url, "/meta")
        statuses = [call(url + "/meta")[0] for _ in range(2 * LIMIT)]
        allowed = statuses.count(200)
        limit_error = abs(allowed - LIMIT) / LIMIT
        spread = (requests_on(a.url, "/meta") - meta_before[0],
                  requests_on(b.url, "/meta") - meta_before[1])
        assert min(spread) >= LIMIT // 2  # round robin: each instance saw half
        assert statuses.count(429) == 2 * LIMIT - allowed

        # 2. A change made through one instance reaches the other's catalog. (Direct calls come
        # from another client address, not to spend the limit step 1 used up.)
        direct = {"X-Forwarded-For": "192.0.2.10"}
        _, login = call(a.url + "/auth/login", "POST",
                        {"email": "scale@example.org", "password": PASSWORD}, direct)
        auth = {"Authorization": f"Bearer {login['data']['accessToken']}", **direct}
        call(a.url + "/admin/tags", "POST", {"slug": "scale", "name": "Scale"}, auth)
        created = time.monotonic()
        status, _ = call(a.url + "/admin/content", "POST",
                         {"title": "Made on A", "url": "https://example.org/a", "tags": ["scale"]},
                         auth)
        assert status == 201
        wait_until(lambda: call(b.url + "/catalog", headers=direct)[1]["data"]["tags"],
                   REFRESH_SECONDS + 3,
                   "instance B's catalog to show the item made on A")
        convergence = time.monotonic() - created
        assert convergence <= REFRESH_SECONDS + 1

        # 3. The SLO rules aggregate both instances: 5xx on A only, traffic on both. The
        # database goes away: /me (it reads the user) answers 503 on A, /catalog is served from
        # memory on both (the shared limiter lets requests through).
        database.kill()
        for _round in range(3):  # rounds, scrapes apart: rate() needs a series to grow
            for n in range(10):
                other = {"X-Forwarded-For": f"192.0.2.{20 + n}"}
                if n < 3:
                    call(a.url + "/me", headers={**auth, **other})
                call(a.url + "/catalog", headers=other)
                call(b.url + "/catalog", headers=other)
            time.sleep(3)
        # The same SLI by hand, over the routes in the availability SLO (alerts/slo.yml's).
        routes = load_context().selector("availability")

        def aggregated() -> tuple[float, float] | None:
            recorded = prometheus.query("job:slo_errors_per_request:ratio_rate5m")
            adhoc = prometheus.query(
                f'sum(rate(http_requests_total{{job="{NAME}",{routes},status=~"5.."}}[5m]))'
                f' / sum(rate(http_requests_total{{job="{NAME}",{routes}}}[5m]))')
            instances = prometheus.query('count by (instance) (http_requests_total)')
            if len(recorded) == 1 and adhoc and len(instances) == 2:
                value = float(recorded[0]["value"][1])
                if 0 < value < 1:
                    return value, float(adhoc[0]["value"][1])
            return None

        recorded, adhoc = wait_until(aggregated, 20, "one aggregated SLI over both instances")
        assert abs(recorded - adhoc) < 0.05
        database.start()
        for instance in (a, b):
            wait_until(lambda i=instance: answers(i.url + "/health"), 15,
                       "the database to be back")

        # 4. One instance stops; the other keeps serving through nginx; the alert fires.
        b.stop()
        assert [call(url + "/health")[0] for _ in range(10)] == [200] * 10
        firing = wait_until(
            lambda: [x for x in prometheus.api("alerts")["alerts"]
                     if x["labels"]["alertname"] == "ApiInstanceDown" and x["state"] == "firing"],
            100, "ApiInstanceDown to fire")
        assert [x["labels"]["instance"] for x in firing] == [f"127.0.0.1:{b.port}"]
        print(f"multi-instance: limit={LIMIT} allowed={allowed} limit_error={limit_error:.1%} "
              f"spread={spread[0]:.0f}/{spread[1]:.0f} convergence_s={convergence:.2f} "
              f"aggregated_5xx_ratio={recorded:.3f} (ad hoc {adhoc:.3f}) instance_down=firing")
        assert limit_error < 0.10
    finally:
        if prometheus is not None:
            prometheus.stop()
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        a.stop()
        b.stop()
        database.close()
