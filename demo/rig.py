"""Every process the demo runs, started in order and stopped in reverse, errors and Ctrl-C
included: FerretDB (tests/mongo_server.py) behind Toxiproxy (tests/faults/toxiproxy.py), the
loopback receivers, Alertmanager, the service (tests/service.py) and Prometheus
(tests/prometheus_server.py) with the time-compressed rules."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from demo.alertmanager import BINARY as ALERTMANAGER
from demo.alertmanager import Alertmanager
from demo.receivers import Receivers
from demo.scale import Scale
from demo.timescale import (
    alertmanager_config,
    divide,
    dump,
    shortest_range_ms,
    write_scaled_rules,
)
from tests.faults.toxiproxy import Toxiproxy, find_binary
from tests.faults.toxiproxy import Unavailable as NoToxiproxy
from tests.mongo_server import BUILD as FERRETDB_BUILD
from tests.mongo_server import FerretDB
from tests.prometheus_server import Prometheus
from tests.service import REPO, ServiceProcess

PROXY = "mongo"
EXTENSION_ORIGIN = "chrome-extension://demoextensionid"
# The settings the demo changes from the service's defaults, each with its reason: the report
# prints them.
DEMO_SETTINGS = {
    "CONTENT_SNAPSHOT_MAX_ITEMS": ("0", "browsing reads the database, so the slow phase reaches "
                                   "the latency SLO (with the in-memory snapshot on, /content "
                                   "rides through both phases and only sign-ins and edits feel "
                                   "the incident)"),
    "TRUST_PROXY_HOPS": ("1", "the traffic plays many extension installs from one address, "
                         "each named in X-Forwarded-For as a load balancer would"),
    "SHUTDOWN_GRACE_SECONDS": ("0", "no load balancer to drain at the end of the demo"),
}


class Missing(Exception):
    """A tool the demo needs is not here; the message says what to install."""


@dataclass
class Accounts:
    admin: tuple[str, str]
    users: list[tuple[str, str]]
    curator: tuple[str, str]

    def as_env(self) -> dict[str, Any]:
        return {"admin": list(self.admin), "users": [list(u) for u in self.users],
                "curator": list(self.curator)}


def _password() -> str:
    return secrets.token_urlsafe(18)


def check_tools() -> tuple[str, str]:
    """The FerretDB and Toxiproxy binaries; Missing names what to install otherwise."""
    for binary, package in (("prometheus", "prometheus"), ("promtool", "prometheus"),
                            (ALERTMANAGER, "prometheus-alertmanager")):
        if shutil.which(binary) is None:
            raise Missing(f"{binary} is not installed: apt-get install {package}")
    ferretdb = os.environ.get("FERRETDB_BIN")
    if not ferretdb:
        if shutil.which("go") is None:
            raise Missing("FerretDB is not built and Go is missing: install Go "
                          "(tests/ferretdb/build.sh builds it once per machine)")
        built = subprocess.run([str(FERRETDB_BUILD)], capture_output=True, text=True,
                               timeout=900)
        if built.returncode != 0:
            raise Missing(f"tests/ferretdb/build.sh failed: {built.stderr.strip()[-300:]}")
        ferretdb = built.stdout.strip()
    try:
        toxiproxy = find_binary()
    except NoToxiproxy as exc:
        raise Missing(str(exc)) from None
    return ferretdb, toxiproxy


@dataclass
class Rig:
    scale: Scale
    out: Path
    database: FerretDB | None = None
    proxy: Toxiproxy | None = None
    receivers: Receivers | None = None
    alertmanager: Alertmanager | None = None
    service: ServiceProcess | None = None
    prometheus: Prometheus | None = None
    accounts: Accounts | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)
    rule_files: list[Path] = field(default_factory=list)

    def _started(self, name: str, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None:
            self.processes.append({"name": name, "pid": proc.pid, "args": proc.args})

    def _owned(self, stack: ExitStack, name: str, part: Any) -> None:
        """Stop `part` with the stack; its process joins the list the demo checks afterwards
        (registered when stopped: a process that failed to come up is on it too)."""

        def stop() -> None:
            self._started(name, part.proc)
            (part.close if isinstance(part, FerretDB) else part.stop)()

        stack.callback(stop)

    def start(self, stack: ExitStack, ferretdb: str, toxiproxy: str,
              say: Callable[[str], None] = lambda text: None) -> None:
        """Everything up, each stop registered on `stack` as soon as it exists; Alertmanager
        and the accounts in threads meanwhile."""
        config = self.out / "config"
        self.rule_files = write_scaled_rules(sorted((REPO / "alerts").glob("*.yml")),
                                             config / "alerts", self.scale.compression)
        self.scale.check(shortest_range_ms(
            [yaml.safe_load(path.read_text()) for path in self.rule_files]))

        self.database = FerretDB(ferretdb)
        self._owned(stack, "ferretdb", self.database)
        self.database.start()
        say(f"FerretDB on 127.0.0.1:{self.database.port}")
        self.proxy = Toxiproxy(toxiproxy)
        self._owned(stack, "toxiproxy", self.proxy)
        self.proxy.start()
        proxy_port = self.proxy.create(PROXY, f"127.0.0.1:{self.database.port}")
        say(f"Toxiproxy in front of it on 127.0.0.1:{proxy_port}")
        self.receivers = Receivers().start()
        stack.callback(self.receivers.stop)

        am_config = alertmanager_config(yaml.safe_load((REPO / "alertmanager.yml").read_text()),
                                        self.scale.compression, self.receivers.webhook_url)
        (config / "alertmanager.yml").write_text(
            f"# alertmanager.yml with its timers divided by {self.scale.compression} and every "
            "receiver a loopback webhook (demo/timescale.py).\n" + dump(am_config))
        self.alertmanager = Alertmanager(am_config)
        self._owned(stack, "alertmanager", self.alertmanager)

        self.accounts = Accounts(
            admin=("admin@demo.example", _password()),
            users=[(f"{name}@demo.example", _password()) for name in ("ana", "ben", "chloe")],
            curator=("curator@demo.example", _password()),
        )
        self.service = ServiceProcess(**self.service_env(f"mongodb://127.0.0.1:{proxy_port}/"))
        stack.push(self.service)  # its __exit__ stops it and removes its log
        stack.callback(self.stop_service)  # runs first: the log outlives the process
        self.prometheus = Prometheus(
            [f"127.0.0.1:{self.service.port}"],
            rule_files=[str(path) for path in self.rule_files],
            interval=self.scale.interval_text, alertmanager=self.alertmanager.address,
            # Prometheus re-sends firing alerts to Alertmanager at most this often (1m).
            flags=(f"--rules.alert.resend-delay={divide('1m', self.scale.compression)}",),
        )
        self._owned(stack, "prometheus", self.prometheus)
        shutil.copy(self.prometheus.dir / "prometheus.yml", config / "prometheus.yml")

        # Prometheus only once the service answers (a scrape before would be ApiInstanceDown);
        # its first scrape waits for service discovery (~5 s), time enough for the accounts.
        with ThreadPoolExecutor(2, thread_name_prefix="start") as pool:
            alertmanager = pool.submit(self.alertmanager.start)
            self._command("seed-demo")  # before the service: it primes its catalog at start
            self.service.start(wait_for="/ready", timeout=30)
            say(f"the service ready on {self.service.url}, with the demo catalog "
                "(python -m app seed-demo)")
            accounts = pool.submit(self._create_accounts)
            self.prometheus.start()
            alertmanager.result()
            say(f"Prometheus on {self.prometheus.url}, Alertmanager on {self.alertmanager.url}")
            deadline = time.monotonic() + 20
            while [t["health"] for t in self.prometheus.api("targets")["activeTargets"]] != ["up"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("Prometheus did not scrape the service within 20 s")
                time.sleep(self.scale.interval / 2)
            accounts.result()
            say("accounts created (python -m app users create)")

    def service_env(self, mongo_uri: str) -> dict[str, str]:
        assert self.receivers is not None and self.accounts is not None
        from app.config import Settings

        defaults = Settings()
        return {
            # As production runs it: real password hashing, production's rate limits (not the
            # test suite's), generated secrets.
            "APP_ENV": "production",
            "LOG_LEVEL": "info",
            "MONGO_URI": mongo_uri,
            "MONGO_DB": "demo",
            "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
            "JWT_REFRESH_SECRET": secrets.token_urlsafe(48),
            "RATE_LIMIT_ANON_PER_MINUTE": str(defaults.rate_limit_anon_per_minute),
            "RATE_LIMIT_USER_PER_MINUTE": str(defaults.rate_limit_user_per_minute),
            "RATE_LIMIT_AUTH_PER_MINUTE": str(defaults.rate_limit_auth_per_minute),
            "BOOTSTRAP_ADMIN_EMAIL": self.accounts.admin[0],
            "BOOTSTRAP_ADMIN_PASSWORD": self.accounts.admin[1],
            "CORS_ALLOWED_ORIGINS": EXTENSION_ORIGIN,
            "SENTRY_DSN": self.receivers.sentry_dsn,
            "SENTRY_ENVIRONMENT": "demo",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.receivers.otlp_endpoint,
            "APP_COMMIT": "demo",
            **{name: value for name, (value, _) in DEMO_SETTINGS.items()},
        }

    def _command(self, *args: str, stdin: str = "") -> None:
        """An operator command (`python -m app ...`) against the demo's database."""
        assert self.service is not None
        proc = subprocess.Popen([sys.executable, "-m", "app", *args], cwd=REPO,
                                env={**self.service.env, "LOG_LEVEL": "warn"},
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self._started(f"app {args[0]}", proc)
        try:
            _, err = proc.communicate(stdin, timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"python -m app {' '.join(args)} failed: {err.strip()[-500:]}")

    def _create_accounts(self) -> None:
        """The traffic's users and curator, with the operator command, four at once."""
        assert self.accounts is not None
        users = [(email, password, "user") for email, password in self.accounts.users]
        users.append((*self.accounts.curator, "curator"))
        with ThreadPoolExecutor(len(users), thread_name_prefix="users") as pool:
            for done in [pool.submit(self._command, "users", "create", "--email", email,
                                     "--role", role, stdin=password + "\n")
                         for email, password, role in users]:
                done.result()

    def stop_service(self) -> None:
        """SIGTERM (it flushes its spans and events on the way out), then its log kept beside
        the report."""
        if self.service is not None:
            if not any(p["name"] == "service" for p in self.processes):
                self._started("service", self.service.proc)
            self.service.stop()
            (self.out / "service.log").write_text(self.service.output())

    def keep_logs(self) -> None:
        """On a failure: the tail of every log beside the report, for whoever debugs it."""
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, part in (("ferretdb", self.database), ("toxiproxy", self.proxy),
                           ("alertmanager", self.alertmanager), ("prometheus", self.prometheus)):
            if part is not None:
                (logs / f"{name}.log").write_text(part.log())
