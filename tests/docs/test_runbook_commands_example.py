"""The example's runbooks and operations guide run as written (tests/docs/test_runbook_commands.py
says how the commands are read and checked): the drill of tests/docs/rig.py with the example's
traffic (logins that fail during the outage, reads that are slow through Toxiproxy latency, a
refresh token replayed from another address), and every `python -m app` command against the
same database: the account commands on the user whose token was replayed, backup and restore,
`serve --from-backup`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.auth.conftest import PASSWORD
from tests.conftest import TEST_ENV, free_port, require_or_skip
from tests.docs import harness, rig
from tests.docs.harness import Command
from tests.faults.toxiproxy import Toxiproxy, find_binary
from tests.faults.toxiproxy import Unavailable as NoToxiproxy
from tests.service import REPO

pytestmark = pytest.mark.timeout(300)
PROXY = "mongo"
ADMIN = "runbooks-admin@example.org"
REPLAYED = "replayed@example.org"  # the user whose refresh token is replayed
REPLAY_ADDRESS, REPLAY_AGENT = "198.51.100.23", "replayer/1.0"  # the docs expect these
NEW_PASSWORD = "a-new-password-for-the-drill"


class ProxyFaults:
    """Toxiproxy between the instances and the database: disabled (down) or slowed."""

    def __init__(self, proxy: Toxiproxy) -> None:
        self.proxy = proxy

    def down(self) -> None:
        self.proxy.enable(PROXY, False)

    def up(self) -> None:
        self.proxy.enable(PROXY, True)

    def slow(self) -> None:
        self.proxy.add_toxic(PROXY, "latency", "downstream", latency=400)

    def fast(self) -> None:
        self.proxy.reset()


class ExampleTraffic(rig.Traffic):
    ok = "/meta"

    def __init__(self) -> None:
        self.access = ""

    def healthy(self, drill: rig.Rig) -> None:
        status, login = rig.call(drill.url + "/auth/login", "POST",
                                 {"email": ADMIN, "password": PASSWORD}, address="192.0.2.40")
        assert status == 200, login
        self.access = login["data"]["accessToken"]
        refreshed = rig.call(drill.url + "/auth/refresh", "POST",
                             {"refreshToken": login["data"]["refreshToken"]},
                             address="192.0.2.40")
        assert refreshed[0] == 200, refreshed
        for path in ("/catalog", "/meta", "/content"):
            assert rig.call(drill.url + path, address="192.0.2.41")[0] == 200
        super().healthy(drill)

    def _me(self, drill: rig.Rig) -> int:
        return rig.call(drill.url + "/me", address="192.0.2.40",
                        headers={"Authorization": f"Bearer {self.access}"})[0]

    def outage(self, drill: rig.Rig) -> None:
        super().outage(drill)
        for _ in range(3):
            status, _ = rig.call(drill.url + "/auth/login", "POST",
                                 {"email": ADMIN, "password": PASSWORD}, address="192.0.2.42")
            assert status == 503
            assert rig.call(drill.url + "/catalog", address="192.0.2.41")[0] == 200

    def slow(self, drill: rig.Rig) -> None:
        for _ in range(4):
            assert self._me(drill) == 200
        super().slow(drill)

    def reuse(self, drill: rig.Rig) -> None:
        status, body = rig.call(drill.url + "/auth/register", "POST",
                                {"email": REPLAYED, "password": PASSWORD}, address="192.0.2.43")
        assert status == 201, body
        stolen = body["data"]["refreshToken"]
        me = rig.call(drill.url + "/me", address="192.0.2.43",
                      headers={"Authorization": f"Bearer {body['data']['accessToken']}"})
        assert me[0] == 200, me
        assert rig.call(drill.url + "/auth/refresh", "POST", {"refreshToken": stolen},
                        address="192.0.2.43")[0] == 200
        for _ in range(3):
            status, body = rig.call(drill.url + "/auth/refresh", "POST", {"refreshToken": stolen},
                                    address=REPLAY_ADDRESS,
                                    headers={"User-Agent": REPLAY_AGENT})
            assert (status, body["error"]["code"]) == (401, "auth.refresh.reused")
        drill.table.update(EMAIL=REPLAYED, USER_ID=me[1]["data"]["id"])


def cli_env(mongo_uri: str, mongo_db: str) -> dict[str, str]:
    return {**TEST_ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                f"{os.environ.get('PATH', '')}",
            "MONGO_URI": mongo_uri, "MONGO_DB": mongo_db, "MONGO_TIMEOUT_MS": "5000"}


def serves(drill: rig.Rig, command: Command, env: dict[str, str]) -> None:
    """A command that serves (`serve --from-backup DIR`): it starts, answers /ready, and stops
    cleanly on SIGTERM."""
    port = free_port()
    environ = {k: v for k, v in env.items() if k != "MONGO_URI"}
    environ.update(PORT=str(port), HOST="127.0.0.1")
    local = harness.fill(command.text, drill.table)
    with open(drill.workdir / "serve.log", "wb") as log:
        process = subprocess.Popen(["sh", "-c", f"exec {local}"], cwd=REPO, env=environ,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (drill.workdir / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as ok:
                    assert ok.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, (drill.workdir / "serve.log").read_text()
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, (drill.workdir / "serve.log").read_text()
    drill.checked.add(command)


@pytest.fixture
def example_drill(mongo_server, tmp_path: Path) -> Iterator[tuple[rig.Rig, dict[str, str]]]:
    if any(shutil.which(tool) is None for tool in ("prometheus", "jq")):
        require_or_skip("Prometheus and jq are needed (apt-get install prometheus jq)")
    try:
        proxy = Toxiproxy(find_binary())
    except NoToxiproxy as exc:
        require_or_skip(str(exc))
    database = f"runbooks_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        stack.callback(proxy.stop)
        proxy.start()
        host = mongo_server.uri.split("//", 1)[1].split("/", 1)[0].split("@")[-1]
        port = proxy.create(PROXY, host)
        drill = rig.start_rig(
            stack, features=None, mongo_uri=f"mongodb://127.0.0.1:{port}/", mongo_db=database,
            faults=ProxyFaults(proxy), workdir=tmp_path,
            env={"BOOTSTRAP_ADMIN_EMAIL": ADMIN, "BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
                 "AUTH_ALLOW_SELF_REGISTRATION": "true", "CATALOG_REFRESH_SECONDS": "1"})
        password_file = tmp_path / "new-password"
        password_file.write_text(NEW_PASSWORD + "\n")
        drill.table.update({"PASSWORD_FILE": str(password_file),
                            "/backups/2026-11-28": str(tmp_path / "backup")})
        try:
            yield drill, cli_env(mongo_server.uri, database)
        except BaseException:
            for name, log in (("service", drill.primary.output()), ("Toxiproxy", proxy.log()),
                              ("Prometheus", drill.prometheus.log())):
                print(f"--- {name} log (tail)\n{log[-3000:]}")
            raise


def test_the_runbooks_run_in_the_situations_they_describe(example_drill) -> None:
    drill, env = example_drill
    commands = harness.read_commands(REPO)

    def run_python(command: Command) -> None:
        if "serves" in command.expect:
            serves(drill, command, env)
        else:
            drill.check_python(command, env)

    rig.run_drill(drill, ExampleTraffic(), commands, run_python)
    print("healthy phase:", drill.figures)
