"""The situations the runbooks are written for, made for real: two instances of the service on
one database, scraped every second by a real Prometheus with the real rules; traffic from named
client addresses (TRUST_PROXY_HOPS=1), then a database outage, a slow phase, a rate-limit burst
and an instance killed. Each section's commands are checked in the phase its section describes
(`PHASES`), the `jq` pipelines against the log the instances wrote.

The database faults are the caller's (`Faults`): the core's drill stops and restarts FerretDB;
the example's adds Toxiproxy latency between the instances and the database."""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.docs import harness
from tests.docs.harness import Command
from tests.prometheus_server import Prometheus
from tests.service import REPO, ServiceProcess

# Which situation each section is written for; a section with runnable commands that is not
# here fails the test (a new section needs its situation).
PHASES = {
    "": "healthy",
    "useful-everywhere": "healthy",
    "api-is-returning-5xx": "outage",
    "health-endpoint-errors": "outage",
    "mongo-unreachable": "outage",
    "api-is-slow": "slow",
    "rate-limit-thundering-herd": "burst",
    "refresh-token-compromise-suspected": "reuse",
    "api-instance-down": "down",
    # docs/operations.md: commands that need no particular situation
    "secrets-and-their-rotation": "any",
    "accounts-and-emails": "any",
    "backups": "any",
}
ORDER = ("healthy", "outage", "slow", "burst", "reuse", "down", "any")
BURST_ADDRESS = "203.0.113.9"  # the address of the rate-limit burst (the docs expect it)
USER_AGENT = "runbook-drill/1.0"
RATE_LIMIT_PER_MINUTE = 60


class Faults(Protocol):
    def down(self) -> None: ...
    def up(self) -> None: ...
    def slow(self) -> None: ...
    def fast(self) -> None: ...


class FeaturesService(ServiceProcess):
    """The service run with the given features module as `app.features` (the core-only one in
    this repository, to drill the core's documents), or as `python -m app`."""

    def __init__(self, features: str | None, **env: str) -> None:
        super().__init__(**env)
        self.argv = [sys.executable, "-m", "app"] if features is None else [
            sys.executable, "-c",
            "import importlib, sys; sys.modules['app.features'] = importlib.import_module("
            f"{features!r}); from app.__main__ import main; sys.exit(main())",
        ]


def call(url: str, method: str = "GET", body: Any = None, *, address: str = "192.0.2.10",
         headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """One request as a client behind the load balancer: X-Forwarded-For names the address."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "X-Forwarded-For": address, "User-Agent": USER_AGENT,
        **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            text = response.read()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text) if text else {}
        except ValueError:
            return error.code, {}


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@dataclass
class Rig:
    primary: FeaturesService
    victim: FeaturesService  # the instance the "down" phase kills
    prometheus: Prometheus
    faults: Faults
    workdir: Path
    table: dict[str, str] = field(default_factory=dict)  # placeholders of the docs
    checked: set[Command] = field(default_factory=set)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.primary.url

    def instance(self, service: ServiceProcess) -> str:
        return f"127.0.0.1:{service.port}"

    def scraped(self) -> None:
        """Two scrapes of each instance after the traffic so far: rate() sees it grow."""
        time.sleep(2.5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.prometheus.query(expr)

    def check_promql(self, command: Command, timeout: float = 25.0) -> None:
        expr = harness.fill(command.text, self.table)
        clauses = [harness.fill(c, self.table) for c in command.expect]
        problems: list[str] = []
        result: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = self.query(expr)
            except urllib.error.HTTPError as exc:  # a query that does not parse
                raise AssertionError(f"{command.where()}\n{exc.read().decode()}") from None
            problems = harness.check_series(clauses, result)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not problems, f"{command.where()}\n{problems}\nresult: {result}"
        self.checked.add(command)

    def check_python(self, command: Command, env: Mapping[str, str]) -> str:
        """A `python` command (or the part of `kubectl exec ... --` that runs in the pod), run
        here through `sh -c` with the placeholders filled; its exit status and output checked."""
        local = harness.python_part(command.text)
        if local != command.text:  # in the pod: its PORT is the ConfigMap's 8080
            local = local.replace("8080", str(self.primary.port))
        local = harness.fill(local, self.table)
        done = harness.run_shell(local, cwd=REPO, env=env, timeout=120)
        clauses = [harness.fill(c, self.table) for c in command.expect]
        problems = harness.check_output(clauses, done.stdout)
        assert done.returncode == harness.expected_exit(clauses) and not problems, (
            f"{command.where()}\n{local}\nexit {done.returncode}; {problems}\n"
            f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}")
        if "Traceback" in done.stderr:
            raise AssertionError(f"{command.where()}: a traceback\n{done.stderr[-2000:]}")
        self.checked.add(command)
        return done.stdout

    def log_file(self) -> Path:
        """Every line both instances wrote (kubectl logs -l reads every pod)."""
        path = self.workdir / "captured.log"
        lines = [line for service in (self.primary, self.victim)
                 for line in service.output().splitlines() if line.startswith("{")]
        path.write_text("\n".join(lines) + "\n")
        return path

    def check_jq(self, commands: Iterable[Command]) -> None:
        log = self.log_file()
        keys = {key for line in log.read_text().splitlines() for key in json.loads(line)}
        for command in commands:
            for jq_filter in harness.jq_filters(command.text):
                missing = harness.jq_fields(jq_filter) - keys
                assert not missing, f"{command.where()}\nno log line has {sorted(missing)}"
            pipeline = harness.fill(harness.jq_pipeline(command.text, log), self.table)
            done = harness.run_shell(pipeline, cwd=self.workdir)
            clauses = [harness.fill(c, self.table) for c in command.expect]
            problems = harness.check_output(clauses, done.stdout)
            assert done.returncode == 0 and not done.stderr and not problems, (
                f"{command.where()}\n{pipeline}\nexit {done.returncode}; {problems}\n"
                f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}")
            self.checked.add(command)


def start_rig(stack: ExitStack, *, features: str | None, mongo_uri: str, mongo_db: str,
              faults: Faults, workdir: Path, env: Mapping[str, str] | None = None) -> Rig:
    """Two instances on `mongo_uri` and a Prometheus scraping both; stopped by `stack`."""
    settings = {
        "MONGO_URI": mongo_uri, "MONGO_DB": mongo_db, "MONGO_TIMEOUT_MS": "1500",
        "DEPENDENCY_PING_SECONDS": "0.5", "TRUST_PROXY_HOPS": "1",
        "RATE_LIMIT_ANON_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE), **(env or {}),
    }
    primary = FeaturesService(features, **settings)
    victim = FeaturesService(features, **settings)
    for service in (primary, victim):
        stack.push(service)  # its __exit__ stops it and removes its log
    prometheus = Prometheus([f"127.0.0.1:{primary.port}", f"127.0.0.1:{victim.port}"])
    stack.callback(prometheus.stop)
    primary.start(wait_for="/ready")
    victim.start(wait_for="/ready")
    prometheus.start()
    wait_for(lambda: [t["health"] for t in prometheus.api("targets")["activeTargets"]]
             == ["up", "up"], 20, "both instances to be scraped")
    return Rig(primary, victim, prometheus, faults, workdir)


class Traffic:
    """What clients do in each phase, on the core's routes (`/hello`, and the test-only
    `/__test__/slow` and `/__test__/boom`); the example adds its own routes."""

    ok = "/hello?name=drill"  # a route that answers 200 without the database

    def healthy(self, rig: Rig) -> None:
        for round_ in range(2):
            for i in range(20):
                call(rig.url + self.ok, address=f"192.0.2.{10 + i % 5}")
            for path in ("/livez", "/health", "/ready"):
                call(rig.url + path)
                call(rig.victim.url + path)
            # In every service's availability SLO, whatever its own routes.
            call(rig.url + "/openapi.json", address="192.0.2.29")
            call(rig.url + "/__test__/slow?seconds=0.02", address="192.0.2.30")
            if round_ == 0:
                rig.scraped()

    def outage(self, rig: Rig) -> None:
        for _ in range(3):
            assert call(rig.url + "/__test__/boom", address="192.0.2.31")[0] == 500
            assert call(rig.url + self.ok, address="192.0.2.32")[0] == 200
            for path in ("/livez", "/health", "/ready"):
                call(rig.url + path)
        _, body = call(rig.url + "/__test__/boom", address="192.0.2.31")
        rig.table["REQUEST_ID"] = body["meta"]["requestId"]

    def slow(self, rig: Rig) -> None:
        for _ in range(2):
            assert call(rig.url + "/__test__/slow?seconds=1.2", address="192.0.2.33")[0] == 200
            for _ in range(10):
                call(rig.url + self.ok, address="192.0.2.34")

    def burst(self, rig: Rig) -> None:
        statuses = [call(rig.url + self.ok, address=BURST_ADDRESS)[0]
                    for _ in range(RATE_LIMIT_PER_MINUTE + 20)]
        assert 429 in statuses, statuses

    def reuse(self, rig: Rig) -> None:
        return None  # the core has no accounts


def run_drill(rig: Rig, traffic: Traffic, commands: list[Command],
              run_python: Callable[[Command], None], *,
              on_phase: Callable[[str], None] | None = None) -> None:
    """Every phase in turn, each section's PromQL and `python` commands checked in its phase;
    the `jq` pipelines at the end, against everything the instances logged."""
    runnable = [c for c in commands if c.kind in harness.RUN_KINDS]
    unknown = sorted({c.section for c in runnable if c.section not in PHASES})
    assert not unknown, f"sections with commands but no situation in tests/docs/rig.py: {unknown}"

    def check(phase: str) -> None:
        for command in runnable:
            if PHASES[command.section] != phase:
                continue
            if command.kind == "promql":
                rig.check_promql(command)
            elif command.kind == "python":
                run_python(command)
        if on_phase is not None:
            on_phase(phase)

    traffic.healthy(rig)
    rig.scraped()
    for name, expr in (
        ("requests per second", "sum(rate(http_requests_total[5m]))"),
        ("p99 seconds", "histogram_quantile(0.99, sum by (le) "
                        "(rate(http_request_duration_seconds_bucket[5m])))"),
        ("mongo p99 seconds", "histogram_quantile(0.99, sum by (le) "
                              "(rate(mongo_command_duration_seconds_bucket[5m])))"),
    ):
        result = rig.query(expr)
        if result:
            rig.figures[name] = float(result[0]["value"][1])
    check("healthy")

    rig.faults.down()
    wait_for(lambda: rig.query('max(app_dependency_up{dependency="mongo"}) == 0'), 20,
             "both instances to see the database gone")
    traffic.outage(rig)
    rig.scraped()
    check("outage")
    rig.faults.up()
    wait_for(lambda: call(rig.url + "/health")[0] == 200, 30, "the database to be back")
    wait_for(lambda: call(rig.victim.url + "/health")[0] == 200, 30, "the database to be back")

    rig.faults.slow()
    traffic.slow(rig)
    rig.scraped()
    check("slow")
    rig.faults.fast()

    traffic.burst(rig)
    rig.scraped()
    check("burst")

    traffic.reuse(rig)
    rig.scraped()
    check("reuse")

    rig.table["DEAD_INSTANCE"] = rig.instance(rig.victim)
    assert rig.victim.proc is not None
    rig.victim.proc.send_signal(signal.SIGKILL)
    rig.victim.proc.wait()
    wait_for(lambda: rig.query(f'up{{instance="{rig.table["DEAD_INSTANCE"]}"}} == 0'), 20,
             "Prometheus to see the instance down")
    check("down")
    check("any")

    rig.check_jq([c for c in runnable if c.kind == "jq"])
    not_checked = [c.where() for c in runnable if c not in rig.checked]
    assert not not_checked, "commands not run:\n" + "\n".join(not_checked)
