"""The probe drill: two instances on one database (FerretDB behind Toxiproxy), nginx in front, and
the Deployment's own probes (paths, periods, timeouts and thresholds read from
deploy/k8s/base/deployment.yaml, so the drill follows the manifest) polled on each instance as
the kubelet polls them. The database goes away for longer than the liveness window, first as a
partition (nothing answers) and then as a dead process (connections refused), under light
traffic through nginx:

- liveness never reaches its failureThreshold: no restart is called for;
- readiness stays 200 on both instances (READY_REQUIRES_STORE=false) while reporting the outage,
  so the Service would keep both;
- `/catalog` answers 200 through nginx throughout, served by both instances;
- `POST /auth/login` (it reads the user) answers 503 `dependency.unavailable`, and the instances'
  `http_requests_total{route="/auth/login",status="503"}` (errors of the availability SLI) grew by
  exactly the 503s the client saw; once the database is back, login answers 200 again.

Then the strict form (READY_REQUIRES_STORE=true) through an outage a little longer than the
readiness window: readiness fails on both instances (liveness still holds), i.e. the Service
would have no endpoints and the load balancer would answer for us, which the default avoids."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from generate.spec import load_context
from tests.auth.conftest import PASSWORD
from tests.conftest import require_or_skip
from tests.faults.toxiproxy import Toxiproxy, Unavailable, find_binary
from tests.helpers import wait_until
from tests.mongo_server import FerretDB
from tests.scale.nginx import nginx, requests_on
from tests.service import REPO, ServiceProcess

pytestmark = pytest.mark.timeout(300)
DEPLOYMENT = REPO / "deploy" / "k8s" / "base" / "deployment.yaml"
LOGIN = {"email": "probes@example.org", "password": PASSWORD}
PROXY = "mongo"


@dataclass(frozen=True)
class ProbeSpec:
    kind: str
    path: str
    period: float
    timeout: float
    failure_threshold: int

    @property
    def window(self) -> float:
        """How long the probe fails before the kubelet acts on it."""
        return self.period * self.failure_threshold


def manifest_probes() -> dict[str, ProbeSpec]:
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    specs = {}
    for kind in ("liveness", "readiness", "startup"):
        probe = container[f"{kind}Probe"]
        # Where the manifest says nothing, the kubelet's defaults.
        specs[kind] = ProbeSpec(kind, probe["httpGet"]["path"],
                                float(probe.get("periodSeconds", 10)),
                                float(probe.get("timeoutSeconds", 1)),
                                int(probe.get("failureThreshold", 3)))
    return specs


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic time the request was sent
    route: str
    status: int | None  # None: no answer within the timeout, or no connection
    seconds: float
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A success as the kubelet counts it."""
        return self.status is not None and 200 <= self.status < 400

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None


def send(url: str, route: str, timeout: float, body: dict[str, Any] | None = None) -> Answer:
    request = urllib.request.Request(
        url, method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"} if body is not None else {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    except OSError:  # refused, reset, or no answer in time
        return Answer(started, route, None, time.monotonic() - started)
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = {}
    return Answer(started, route, status, time.monotonic() - started, parsed)


class Kubelet(threading.Thread):
    """One probe of one instance, run as the kubelet runs it: a GET every period, bounded by the
    timeout; 200-399 is a success, anything else (or no answer in time) a failure."""

    def __init__(self, base_url: str, spec: ProbeSpec, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = base_url + spec.path
        self.spec = spec
        self.stop = stop
        self.answers: list[Answer] = []

    def run(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            self.answers.append(send(self.url, self.spec.path, self.spec.timeout))
            due += self.spec.period
            self.stop.wait(max(0.0, due - time.monotonic()))

    def longest_failure_run(self) -> int:
        """The most consecutive failures: the kubelet acts when it reaches failureThreshold."""
        longest = run = 0
        for answer in self.answers:
            run = 0 if answer.ok else run + 1
            longest = max(longest, run)
        return longest

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.at and a.at + a.seconds <= end]


class Traffic(threading.Thread):
    """Light traffic through nginx: `/catalog` four times a second, a login every two seconds."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = stop
        self.answers: list[Answer] = []

    def run(self) -> None:
        sent = 0
        while not self.stop.is_set():
            if sent % 8 == 0:
                self.answers.append(send(self.url + "/auth/login", "/auth/login", 10, LOGIN))
            self.answers.append(send(self.url + "/catalog", "/catalog", 10))
            sent += 1
            self.stop.wait(0.25)

    def of(self, route: str) -> list[Answer]:
        return [a for a in self.answers if a.route == route]


def start_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()


def stop_all(threads: list[threading.Thread], stop: threading.Event) -> None:
    stop.set()
    for thread in threads:
        if thread.is_alive():
            thread.join(timeout=15)


def store_state(answer: Answer) -> str:
    return str(answer.body.get("data", {}).get("checks", {}).get("store", ""))


def strict_readiness(env: dict[str, str], probes: dict[str, ProbeSpec], toxiproxy: Toxiproxy,
                     instances: list[ServiceProcess]) -> list[int]:
    """Two instances with READY_REQUIRES_STORE=true (added to `instances`, for the caller to
    stop) through an outage as long as the readiness window and two more probes (wherever the
    probes fall, failureThreshold of them fail in it): liveness holds, readiness fails on both.
    The most consecutive readiness failures of each."""
    liveness, readiness = probes["liveness"], probes["readiness"]
    strict = [ServiceProcess(**env, READY_REQUIRES_STORE="true") for _ in range(2)]
    instances += strict
    for instance in strict:
        instance.start(wait_for="/ready")
    stop = threading.Event()
    kubelets = [(Kubelet(i.url, liveness, stop), Kubelet(i.url, readiness, stop)) for i in strict]
    threads: list[threading.Thread] = [k for pair in kubelets for k in pair]
    try:
        start_all(threads)
        time.sleep(readiness.period)
        toxiproxy.enable(PROXY, False)
        time.sleep(readiness.window + 2 * readiness.period)
        toxiproxy.reset()
    finally:
        stop_all(threads, stop)
    for live, ready in kubelets:
        assert live.longest_failure_run() < liveness.failure_threshold, live.answers
        assert ready.longest_failure_run() >= readiness.failure_threshold, ready.answers
    return [ready.longest_failure_run() for _, ready in kubelets]


def test_probes_through_a_database_outage(mongo_server, tmp_path):
    if shutil.which("nginx") is None:
        require_or_skip("nginx is not installed (apt-get install nginx)")
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("takes its own database away: needs FerretDB, not MONGO_TEST_URI")
    try:
        toxiproxy = Toxiproxy(find_binary()).start()
    except Unavailable as exc:
        require_or_skip(str(exc))
    probes = manifest_probes()
    liveness, readiness = probes["liveness"], probes["readiness"]
    outage = liveness.window + liveness.period  # past the liveness window by one more probe
    database = FerretDB(mongo_server.binary)
    instances: list[ServiceProcess] = []
    threads: list[threading.Thread] = []
    stop = threading.Event()
    proxy = None
    try:
        database.start()
        port = toxiproxy.create(PROXY, f"127.0.0.1:{database.port}")
        env = dict(APP_ENV="test", MONGO_URI=f"mongodb://127.0.0.1:{port}/", MONGO_DB="probes",
                   BOOTSTRAP_ADMIN_EMAIL=LOGIN["email"], BOOTSTRAP_ADMIN_PASSWORD=PASSWORD)
        a, b = ServiceProcess(**env), ServiceProcess(**env)
        instances += [a, b]
        for instance in (a, b):  # one after the other: the first creates the admin
            instance.start(wait_for="/ready")
        proxy, url = nginx(tmp_path, a.port, b.port)
        assert send(url + "/auth/login", "login", 10, LOGIN).status == 200

        kubelets = {(name, kind): Kubelet(instance.url, spec, stop)
                    for name, instance in (("a", a), ("b", b)) for kind, spec in probes.items()}
        traffic = Traffic(url, stop)
        threads += [*kubelets.values(), traffic]
        start_all(threads)
        time.sleep(readiness.period)  # every probe answers once with the database up

        def login_503s() -> float:
            return sum(requests_on(i.url, "/auth/login", "503") for i in (a, b))

        errors_before = login_503s()
        catalog_before = [requests_on(i.url, "/catalog") for i in (a, b)]
        killed = time.monotonic()
        toxiproxy.add_toxic(PROXY, "timeout", "downstream", timeout=0)  # a partition
        time.sleep(outage / 2)
        toxiproxy.enable(PROXY, False)  # then a dead process: connections refused
        time.sleep(max(0.0, killed + outage - time.monotonic()))
        catalog_served = [requests_on(i.url, "/catalog") - before
                          for i, before in zip((a, b), catalog_before, strict=True)]
        healed = time.monotonic()
        toxiproxy.reset()
        wait_until(lambda: [x for x in traffic.of("/auth/login")
                            if x.at > healed and x.status == 200], 30,
                   "a login through nginx to succeed once the database is back")
        stop_all(threads, stop)
        errors_added = login_503s() - errors_before

        # No restart called for, and both instances kept in the Service all along.
        for name in ("a", "b"):
            live, ready = kubelets[(name, "liveness")], kubelets[(name, "readiness")]
            assert live.longest_failure_run() < liveness.failure_threshold, (name, live.answers)
            assert ready.longest_failure_run() < readiness.failure_threshold, (name, ready.answers)
            during = ready.between(killed, healed)
            assert during and all(x.status == 200 for x in during), (name, during)
            # Not vacuous: readiness reported the outage, and /health (startup, monitors) saw it.
            assert any(store_state(x).startswith("unavailable") for x in during), (name, during)
            health = kubelets[(name, "startup")].between(killed, healed)
            assert any(x.status == 503 for x in health), (name, health)
        every_probe = [x for k in kubelets.values() for x in k.answers]
        assert all(x.status in (200, 503) for x in every_probe), Counter(
            (x.route, x.status) for x in every_probe)

        # The catalog, from memory, through nginx all along, from both instances.
        catalog = traffic.of("/catalog")
        assert Counter(x.status for x in catalog) == {200: len(catalog)}
        assert min(catalog_served) > 0, catalog_served
        # Login needs the database: 503 dependency.unavailable, counted by the availability SLI.
        logins = traffic.of("/auth/login")
        in_outage = [x for x in logins if killed < x.at and x.at + x.seconds < healed]
        assert in_outage, logins
        assert {(x.status, x.code) for x in in_outage} == {(503, "dependency.unavailable")}
        assert "/auth/login" in load_context().routes("availability")
        seen_503 = sum(1 for x in logins if x.status == 503)
        assert errors_added == seen_503 > 0
        recovered_after = min(x.at + x.seconds for x in logins
                              if x.at > healed and x.status == 200) - healed

        # The strict form: both instances leave the Service in the same outage.
        for instance in (a, b):
            instances.remove(instance)
            instance.__exit__(None, None, None)
        strict_runs = strict_readiness(env, probes, toxiproxy, instances)

        def worst(kind: str) -> tuple[int, float]:
            ran = [k for (_, each), k in kubelets.items() if each == kind]
            return (max(k.longest_failure_run() for k in ran),
                    max(x.seconds for k in ran for x in k.answers))

        figures = {kind: worst(kind) for kind in probes}
        print(f"probe drill: outage={outage:.0f}s (liveness window {liveness.window:.0f}s); "
              + "; ".join(f"{kind} {probes[kind].path}: most consecutive failures "
                          f"{runs}/{probes[kind].failure_threshold}, slowest {slowest:.3f}s"
                          for kind, (runs, slowest) in figures.items())
              + f"; /catalog {len(catalog)}x200 (served {catalog_served[0]:.0f}/"
              f"{catalog_served[1]:.0f} during the outage); login 503 {seen_503} "
              f"(metrics +{errors_added:.0f}), 200 again {recovered_after:.1f}s after the heal; "
              f"strict readiness failures {strict_runs}")
    finally:
        stop_all(threads, stop)
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        for instance in instances:
            instance.__exit__(None, None, None)
        toxiproxy.stop()
        database.close()
