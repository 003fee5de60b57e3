"""The fault matrix (issue 14): each fault is made with Toxiproxy between the service and FerretDB,
under light load on every kind of route, then healed. For each: no 500 anywhere, the probes say
503 within 2 s, app_dependency_up goes 0 within two ping periods and MongoUnreachable goes
pending in a real Prometheus, /health is 200 again within 5 s of the heal, /catalog and /content
answer 200 from memory throughout, no acknowledged write is lost, one dependency.down and one
dependency.up line, error lines bounded by a constant (not by traffic), at most one Sentry event
(never one per 503). The table of a complete run goes into
docs/operations.md, failed checks included: the document shows what the code does today."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.auth.conftest import PASSWORD
from tests.faults.conftest import (
    ADMIN_EMAIL,
    DEPENDENCY_PING_SECONDS,
    MONGO_TIMEOUT_MS,
    PROXY,
    Rig,
)
from tests.faults.load import GAUGE, Answer, Load, Target, request, tag_bodies
from tests.faults.report import Row, render, write_section
from tests.faults.rig import SERVICE_PASSWORD
from tests.service import REPO

pytestmark = pytest.mark.timeout(120)

BASELINE = 1.0  # seconds of load before the fault
HOLD_MIN, HOLD_MAX = 3.0, 10.0  # an outage lasts until MongoUnreachable is pending, within these
DEGRADED_HOLD = 5.0
RECOVERY_WAIT = 10.0  # how long recovery is waited for (the check is 5 s)
AFTER = 1.0  # seconds of load after recovery
PROBE_BOUND, RECOVERY_BOUND = 2.0, 5.0
# One ping period under a fault: the sleep, then a ping that may take its whole timeout. The
# gauge is sampled every 0.2 s.
PING_PERIOD = DEPENDENCY_PING_SECONDS + MONGO_TIMEOUT_MS / 1000
GAUGE_BOUND = 2 * PING_PERIOD + 0.2
MAX_ERROR_LINES = 3  # per transition, whatever the traffic
MAX_SENTRY_EVENTS = 1
MAX_DEGRADED_TRANSITIONS = 3
# Served from memory (the catalog cache, the content snapshot): 200 whatever the database does.
FROM_MEMORY = ("/catalog", "/content", "/content/{id}")


@dataclass(frozen=True)
class Fault:
    name: str
    how: str
    apply: Callable[[Rig], None]
    heal: Callable[[Rig], None] = lambda rig: rig.proxy.reset()
    # False: the database is slow, not gone (a ping still fits in its timeout), so the probes,
    # the gauge and the alert are recorded but not required to say "down"; the state may
    # change, a bounded number of times, each down matched by an up.
    outage: bool = True


def _toxics(*specs: tuple[str, str, dict[str, int]]) -> Callable[[Rig], None]:
    def apply(rig: Rig) -> None:
        for toxic, stream, attributes in specs:
            rig.proxy.add_toxic(PROXY, toxic, stream, **attributes)
    return apply


def _refuse_credentials(rig: Rig) -> None:
    # The database goes away and comes back with a password the service was not given (a
    # rotation, then a restart): the outage begins as "unreachable" and goes on as refused
    # credentials, in that order every run.
    rig.proxy.enable(PROXY, False)
    deadline = time.monotonic() + 2 * GAUGE_BOUND
    while time.monotonic() < deadline and f"{GAUGE} 0.0" not in metrics_text(rig):
        time.sleep(0.05)
    rig.database.set_service_password("rotated-elsewhere")
    rig.proxy.enable(PROXY, True)


def _restore_credentials(rig: Rig) -> None:
    rig.database.set_service_password(SERVICE_PASSWORD)


FAULTS = [
    Fault("database down", "proxy disabled", lambda rig: rig.proxy.enable(PROXY, False)),
    Fault("latency", f"latency {3 * MONGO_TIMEOUT_MS} ms",
          _toxics(("latency", "downstream", {"latency": 3 * MONGO_TIMEOUT_MS}))),
    Fault("blackhole", "timeout toxic, 0", _toxics(("timeout", "upstream", {"timeout": 0}))),
    Fault("reset mid-response", "limit_data 64 B",
          _toxics(("limit_data", "downstream", {"bytes": 64}))),
    Fault("connection reset", "reset_peer", _toxics(("reset_peer", "upstream", {"timeout": 0}))),
    # 1 KB/s is the toxic's floor: a ping's ~200 bytes take ~0.2 s, within the 0.5 s timeout,
    # while a page of content or a new connection's handshake (~2 KB) does not.
    Fault("slow bandwidth", "bandwidth 1 KB/s",
          _toxics(("bandwidth", "downstream", {"rate": 1}),
                  ("bandwidth", "upstream", {"rate": 1})), outage=False),
    Fault("refused credentials", "back with another password", _refuse_credentials,
          _restore_credentials),
]
ROWS: dict[str, Row] = {}


@pytest.fixture(scope="module", autouse=True)
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    started = time.monotonic()
    yield
    if len(ROWS) == len(FAULTS):  # a complete run, passed or not
        rows = [ROWS[fault.name] for fault in FAULTS]
        table = render(rows, time.monotonic() - started)
        source = REPO / "docs" / "operations.md.jinja"
        if source.exists():
            # The template's document is rendered from its .jinja source: write both.
            for path in (source, REPO / "docs" / "operations.md"):
                write_section(path, table)
        else:
            # A service made from the template: its docs/operations.md is the template's, and a
            # test run must not leave its tree dirty (copier update refuses a dirty tree).
            report = tmp_path_factory.getbasetemp() / "fault-matrix.md"
            report.write_text(table + "\n")
            print(f"fault matrix: {report}")


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault(rig: Rig, fault: Fault) -> None:
    wait_healthy(rig)
    row = Row(fault.name, fault.how)
    ROWS[fault.name] = row
    prefix = "f-" + fault.name.replace(" ", "-")
    load = Load(rig.service.url, rig.token, targets(rig, prefix), max_seconds=40).start()
    try:
        time.sleep(BASELINE)
        lines_before, sentry_before = len(rig.service.output().splitlines()), rig.sentry.events
        fault_at, fault_wall = time.monotonic(), time.time()
        fault.apply(rig)
        try:
            row.alert_s = hold(rig, fault_at, *((HOLD_MIN, HOLD_MAX) if fault.outage
                                                    else (DEGRADED_HOLD, DEGRADED_HOLD)))
        finally:
            heal_at = time.monotonic()
            fault.heal(rig)
        deadline = heal_at + RECOVERY_WAIT
        while time.monotonic() < deadline and recovered(load.answers, heal_at) is None:
            time.sleep(0.1)
        time.sleep(AFTER)
    finally:
        load.stop()
    # By then the dependency.up line and any Sentry event have been sent.
    unhealthy = wait_healthy(rig, raise_=False)
    time.sleep(0.3)
    lines = [json.loads(text) for text in rig.service.output().splitlines()[lines_before:]]
    measure(row, load, fault_at, heal_at)
    row.lines = count_lines(lines)
    row.sentry_events = rig.sentry.events - sentry_before
    row.writes = writes(rig, load.answers)
    row.failed = check(row, fault, lines) + ([unhealthy] if unhealthy else [])
    print(f"{fault.name}: {row}")
    assert not row.failed, (f"{fault.name}: " + "; ".join(row.failed) + "\nheal at "
                            f"+{heal_at - fault_at:.2f} s; the lines that are not access lines:\n"
                            + timeline(lines, fault_wall))


def targets(rig: Rig, prefix: str) -> list[Target]:
    return [
        Target("/health", "GET", "/health", 5),
        Target("/ready", "GET", "/ready", 5),
        Target("/catalog", "GET", "/catalog", 3),
        Target("/content", "GET", "/content?limit=5", 3),
        Target("/content/{id}", "GET", f"/content/{rig.content_id}", 3),
        Target("login", "POST", "/auth/login", 2,
               body={"email": ADMIN_EMAIL, "password": PASSWORD}),
        Target("admin write", "POST", "/admin/tags", 3, body=tag_bodies(prefix), token=True),
    ]


def hold(rig: Rig, fault_at: float, least: float, most: float) -> float | None:
    """Keep the fault until MongoUnreachable is pending, at least `least` and at most `most`
    seconds; when it was first seen, from the fault."""
    seen = None
    while (elapsed := time.monotonic() - fault_at) < most:
        if seen is None and rig.alerts("MongoUnreachable"):
            seen = elapsed
        if seen is not None and elapsed >= least:
            break
        time.sleep(0.25)
    return seen


def recovered(answers: list[Answer], heal_at: float) -> float | None:
    return min((a.end - heal_at for a in list(answers)
                if a.route == "/health" and a.start > heal_at and a.status == 200), default=None)


def measure(row: Row, load: Load, fault_at: float, heal_at: float) -> None:
    during = [a for a in load.answers if fault_at <= a.start < heal_at]
    for answer in during:
        row.statuses.setdefault(answer.route, Counter())[answer.status] += 1
    row.health_503_s = min((a.end - fault_at for a in load.answers if a.route == "/health"
                            and a.end > fault_at and a.status == 503), default=None)
    row.gauge_0_s = min((at - fault_at for at, value in load.gauge
                         if at > fault_at and value == 0), default=None)
    row.recovered_s = recovered(load.answers, heal_at)
    row.statuses["500 anywhere"] = Counter(a.status for a in load.answers if a.status == 500)


def count_lines(lines: list[dict]) -> Counter[str]:
    """Lines other than the access lines and the per-login security events, by level and
    message (its code, before any colon)."""
    counts: Counter[str] = Counter()
    for line in lines:
        if line["msg"] != "request.completed" and not line["msg"].startswith("auth.login"):
            counts[f"{line['level']} {line['msg'].split(':')[0]}"] += 1
    return counts


def writes(rig: Rig, answers: list[Answer]) -> tuple[int, int]:
    acknowledged = {a.slug for a in answers if a.slug}
    with rig.database.client() as client:
        stored = {doc["slug"] for doc in client.faults.tags.find(
            {"slug": {"$in": sorted(acknowledged)}}, {"slug": 1})}
    return len(acknowledged), len(acknowledged - stored)


def timeline(lines: list[dict], fault_wall: float) -> str:
    """The lines other than access lines, stamped from the fault, for a failure message."""
    out = []
    for line in lines:
        if line["msg"] != "request.completed" and not line["msg"].startswith("auth.login"):
            at = datetime.fromisoformat(line["ts"].replace("Z", "+00:00")).timestamp()
            extra = {k: v for k, v in line.items()
                     if k in ("reason", "outageSeconds", "route", "cause")}
            out.append(f"  +{at - fault_wall:5.2f} s {line['level']} {line['msg'][:60]} {extra}")
            if "error" in line:  # an unexpected exception: its stack is the evidence
                out.append("    " + line["error"]["stack"][-1500:].replace("\n", "\n    "))
    return "\n".join(out)


def check(row: Row, fault: Fault, parsed: list[dict]) -> list[str]:
    errors = [line for line in parsed if line["level"] == "error"]
    down = [line for line in parsed if line["msg"] == "dependency.down"]
    up = [line for line in parsed if line["msg"] == "dependency.up"]
    failed = []
    if row.statuses["500 anywhere"]:
        failed.append(f"{sum(row.statuses['500 anywhere'].values())} answers of 500")
    if fault.outage and (row.health_503_s is None or row.health_503_s > PROBE_BOUND):
        failed.append(f"/health 503 after {row.health_503_s} s (bound {PROBE_BOUND} s)")
    if fault.outage and (row.gauge_0_s is None or row.gauge_0_s > GAUGE_BOUND):
        failed.append(f"gauge 0 after {row.gauge_0_s} s (bound {GAUGE_BOUND:.1f} s)")
    if fault.outage and row.alert_s is None:
        failed.append("MongoUnreachable never pending")
    if row.recovered_s is None or row.recovered_s > RECOVERY_BOUND:
        failed.append(f"/health 200 after {row.recovered_s} s of the heal "
                      f"(bound {RECOVERY_BOUND} s)")
    for route in FROM_MEMORY:
        other = sum(n for status, n in row.statuses.get(route, Counter()).items() if status != 200)
        if other:
            failed.append(f"{route}: {other} answers other than 200 (served from memory)")
    if row.writes[1]:
        failed.append(f"{row.writes[1]} acknowledged writes lost")
    # A second dependency.down inside one outage is allowed only to tell a new reason.
    reasons = [line.get("reason") for line in down]
    changes = [r for n, r in enumerate(reasons) if n == 0 or r != reasons[n - 1]]
    transitions_ok = (len(up) == 1 and 1 <= len(down) == len(changes) if fault.outage
                      else len(down) == len(up) <= MAX_DEGRADED_TRANSITIONS)
    if not transitions_ok:
        want = "1 each, or a down per new reason" if fault.outage else "as many"
        failed.append(f"dependency.down {len(down)} times (reasons: {', '.join(map(str, reasons))})"
                      f", dependency.up {len(up)} (want {want})")
    if fault.name == "refused credentials" and "authentication" not in reasons:
        failed.append(f"refused credentials never reported (dependency.down reasons {reasons})")
    if len(errors) > MAX_ERROR_LINES * max(1, len(down)):
        failed.append(f"{len(errors)} error lines (bound {MAX_ERROR_LINES} a transition)")
    if row.sentry_events > MAX_SENTRY_EVENTS:
        failed.append(f"{row.sentry_events} Sentry events (bound {MAX_SENTRY_EVENTS})")
    return failed


def wait_healthy(rig: Rig, timeout: float = 15.0, *, raise_: bool = True) -> str | None:
    """Before and after each fault: /health 200, the gauge 1, no MongoUnreachable. After a
    fault, what is still wrong is returned rather than raised."""
    deadline = time.monotonic() + timeout
    while True:
        status, _ = request(rig.service.url + "/health")
        gauge = next((line for line in metrics_text(rig).splitlines()
                      if line.startswith(GAUGE)), None)
        alert = rig.alerts("MongoUnreachable")
        if status == 200 and gauge == f"{GAUGE} 1.0" and not alert:
            return None
        if time.monotonic() > deadline:
            problem = (f"not healthy {timeout:.0f} s after the heal: /health {status}, {gauge}, "
                       f"MongoUnreachable {alert}")
            if raise_:
                raise AssertionError(f"the rig is unhealthy before the fault: {problem}")
            return problem
        time.sleep(0.25)


def metrics_text(rig: Rig) -> str:
    with urllib.request.urlopen(rig.service.url + "/metrics", timeout=5) as response:
        return response.read().decode()
