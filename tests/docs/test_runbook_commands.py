"""Every command of docs/runbooks.md and docs/operations.md works as written.

Server-free: every command is one the harness knows (tests/docs/harness.py), every one that runs
has its expectation, each runbook section says what normal looks like and when to escalate,
`kubectl`/compose/`mongosh`/manifest lines name what exists, PromQL parses (promtool), `jq`
filters compile, `python -m app` lines parse with the service's own CLI.

The drill: the core's documents run in the situations they describe (tests/docs/rig.py), on the
core's routes. In this repository (the template, with the example domain) the core's documents
are rendered from the sources as a project without the example gets them, and the service runs
with the core-only features; tests/docs/test_runbook_commands_example.py drills the example's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import jinja2
import pytest
import yaml

from app.__main__ import _parser
from app.composition import service_features
from tests.conftest import make_settings, require_or_skip
from tests.docs import harness, rig
from tests.docs.harness import DOCS, Command, Manifests
from tests.mongo_server import FerretDB
from tests.service import REPO

pytestmark = pytest.mark.timeout(300)


def rendered(example: bool) -> dict[str, str] | None:
    """The documents as a project with or without the example gets them, rendered from the
    sources (None where there are none: a project made from the template)."""
    if not all((REPO / f"{doc}.jinja").exists() for doc in DOCS):
        return None
    from generate.rendered import context

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(REPO), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    values = {**context(yaml.safe_load((REPO / "service.yml").read_text())),
              "include_example_domain": example}
    return {doc: env.get_template(f"{doc}.jinja").render(values) for doc in DOCS}


def variants() -> dict[str, list[Command]]:
    """The commands of the documents on disk, and where the sources are, of the core's too."""
    found = {"as written": harness.read_commands(REPO)}
    core = rendered(example=False)
    if core is not None:
        found["without the example"] = harness.read_commands(REPO, core)
    return found


@pytest.fixture(scope="module", params=sorted(variants()))
def commands(request: pytest.FixtureRequest) -> list[Command]:
    return variants()[request.param]


def test_every_command_is_known_and_says_what_it_must_give(commands: list[Command]) -> None:
    assert {c.kind for c in commands} >= {"promql", "jq", "kubectl"}
    problems = harness.problems_of_classification(commands)
    assert not problems, "\n".join(problems)


def test_each_runbook_section_starts_with_normal_and_ends_with_when_to_escalate() -> None:
    for text in [(REPO / "docs/runbooks.md").read_text(), *(
            [v["docs/runbooks.md"] for v in [rendered(False)] if v is not None])]:
        sections = re.split(r"^## ", text, flags=re.M)[1:]
        assert len(sections) >= 6
        for section in sections:
            title = section.splitlines()[0]
            if title == "Useful everywhere":
                continue
            paragraphs = [p.strip() for p in section.split("\n\n")[1:] if p.strip()]
            starts = [p for p in paragraphs[:3] if p.startswith("Normal:")]
            assert starts, f"{title}: no 'Normal:' paragraph at its start"
            assert paragraphs[-1].startswith("Escalate when:"), f"{title}: ends otherwise"


def test_kubectl_compose_mongosh_and_manifests_name_what_exists(commands: list[Command]) -> None:
    manifests = Manifests.read(REPO)
    assert manifests.namespaces and manifests.deployments and manifests.hpas
    services = set(yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"])
    collections = harness.collections(service_features(), make_settings)
    problems = []
    for command in commands:
        if command.kind == "kubectl" or command.text.startswith("kubectl"):
            found = harness.check_kubectl(command.text, manifests)
        elif command.kind == "mongosh":
            found = harness.check_mongosh(command.text, collections)
        elif command.kind == "compose" or command.text.startswith("docker"):
            found = harness.check_compose(command.text, services)
        elif command.kind == "yaml":
            found = harness.check_manifest(command.text, manifests)
        elif command.kind == "mongo-tools":
            found = [] if '--uri "$MONGO_URI"' in command.text else ["not on $MONGO_URI"]
        else:
            continue
        problems += [f"{command.where()}\n  {problem}" for problem in found]
    assert not problems, "\n".join(problems)
    # The in-pod commands reach the service on the ConfigMap's PORT.
    ports = {cm["data"].get("PORT") for cm in manifests.config_maps.values()}
    if any("8080" in c.text for c in commands if c.text.startswith("kubectl")):
        assert ports == {"8080"}, ports


def test_every_query_parses(commands: list[Command], tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        require_or_skip("promtool is not installed (apt-get install prometheus)")
    queries = [c for c in commands if c.kind == "promql"]
    rules = {"groups": [{"name": "docs", "rules": [
        {"record": f"docs:query:{i}", "expr": c.text} for i, c in enumerate(queries)]}]}
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_jq_filter_compiles(commands: list[Command]) -> None:
    if shutil.which("jq") is None:
        require_or_skip("jq is not installed (apt-get install jq)")
    for command in (c for c in commands if c.kind == "jq"):
        for jq_filter in harness.jq_filters(command.text):
            done = subprocess.run(["jq", jq_filter], input="", capture_output=True, text=True,
                                  timeout=10)
            assert done.returncode == 0, f"{command.where()}\n{done.stderr}"


def test_every_operator_command_parses_with_the_cli() -> None:
    parser = _parser(service_features())
    for command in harness.read_commands(REPO):
        if command.kind != "python" and "python -m app" not in command.text:
            continue
        for found in re.findall(r"python -m app ([^\"&|<;]*)", command.text):
            # a command substitution ($(date +%F)) is one word; comments are not arguments
            words = shlex.split(re.sub(r"\$\([^)]*\)", "WORD", found), comments=True)
            try:
                parser.parse_args(words)
            except SystemExit:
                pytest.fail(f"{command.where()}: `python -m app {found}` does not parse")


class StopStart:
    """The core's database faults: FerretDB stopped and started again (same port, same data)."""

    def __init__(self, database: FerretDB) -> None:
        self.database = database

    def down(self) -> None:
        self.database.kill()

    def up(self) -> None:
        self.database.start()

    def slow(self) -> None:
        return None  # the core's slow requests are its own (/__test__/slow)

    def fast(self) -> None:
        return None


def shell_env() -> dict[str, str]:
    """`python` in a doc's command is this interpreter (the project's virtualenv)."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture
def core_drill(mongo_server, tmp_path: Path) -> Iterator[tuple[rig.Rig, list[Command]]]:
    if shutil.which("prometheus") is None or shutil.which("jq") is None:
        require_or_skip("Prometheus and jq are needed (apt-get install prometheus jq)")
    if not isinstance(mongo_server, FerretDB):
        pytest.skip("stops its database: needs FerretDB, not MONGO_TEST_URI")
    core = rendered(example=False)
    if core is not None:  # this repository: the core's documents, the core-only features
        features: str | None = "app.features_core"
        commands = harness.read_commands(REPO, core)
    elif service_features().cli is None:  # a project without the example
        features, commands = None, harness.read_commands(REPO)
    else:
        pytest.skip("the example's documents: tests/docs/test_runbook_commands_example.py")
    database = FerretDB(mongo_server.binary)
    with ExitStack() as stack:
        stack.callback(database.close)
        database.start()
        drill = rig.start_rig(stack, features=features, mongo_uri=database.uri,
                              mongo_db="runbooks", faults=StopStart(database), workdir=tmp_path)
        try:
            yield drill, commands
        except BaseException:
            for name, log in (("service", drill.primary.output()), ("Prometheus",
                                                                    drill.prometheus.log())):
                print(f"--- {name} log (tail)\n{log[-3000:]}")
            raise


def test_the_core_runbooks_run_in_the_situations_they_describe(core_drill) -> None:
    drill, commands = core_drill
    rig.run_drill(drill, rig.Traffic(), commands,
                  lambda command: drill.check_python(command, shell_env()))
    print("healthy phase:", drill.figures)
