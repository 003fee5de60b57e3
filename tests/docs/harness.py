"""The commands of docs/runbooks.md and docs/operations.md, read as an operator reads them, and the
means to check each: run it (PromQL against a Prometheus, `jq` pipelines against a captured log,
`python` commands against a database) or check it against what it names (`kubectl` against the
manifests, `mongosh` against the collections, compose against its services).

How the docs mark them:
- fenced blocks tagged `promql` (one query a block), `sh` (one command a line; `#` comments),
  `mongosh` (one statement a line) or `yaml` (a manifest);
- an HTML comment right before a block, `<!-- expect: clause; clause -->`, says what running it
  must give (see `check_output` and `check_series`); every block that runs has one;
- placeholders in capitals (REQUEST_ID, EMAIL, POD...), filled from the test's table.
Inline code that is a command of a kind that runs (a PromQL function call, `python`, `jq`) is
refused: it must be a block with its expectation. Static kinds may be inline.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DOCS = ("docs/runbooks.md", "docs/operations.md")
RUN_KINDS = ("promql", "jq", "python")
STATIC_KINDS = ("kubectl", "mongosh", "compose", "mongo-tools", "yaml")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S)
EXPECT = re.compile(r"<!--\s*expect:(?P<clauses>.*?)-->", re.S)
HEADING = re.compile(r"^## (.+)$", re.M)
INLINE = re.compile(r"`([^`\n]+)`")
PROMQL_CALL = re.compile(r"\b[a-z_]+\s*\(")


def anchor(title: str) -> str:
    """GitHub's heading anchor (as the alerts' runbook_url uses it)."""
    return re.sub(r"[^a-z0-9 -]", "", title.strip().lower()).replace(" ", "-")


@dataclass(frozen=True)
class Command:
    doc: str
    section: str  # the anchor of the `## ` section it is in; "" before the first
    kind: str  # one of RUN_KINDS + STATIC_KINDS, or "unclassified"
    text: str  # one query, one shell line, one mongosh statement, one YAML document
    expect: tuple[str, ...] = ()
    block: int = 0  # the commands of one block share their expectation
    line: int = 0
    inline: bool = False

    def where(self) -> str:
        return f"{self.doc}:{self.line} ({self.section or 'intro'}): {self.text[:120]}"


def unquoted_split(line: str, separator: str) -> list[str]:
    """`line` split at each `separator` character outside quotes (and `||` is not a pipe)."""
    parts, current, quote, i = [], [], None, 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"' and i + 1 < len(line):
                current.append(char)
                i += 1
                char = line[i]
        elif char in "'\"":
            quote = char
        elif char == separator and line[i:i + 2] != separator * 2 and \
                (i == 0 or line[i - 1] != separator):
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def strip_comment(line: str) -> str:
    """The shell line without its `# comment` (a `#` outside quotes, at the start or after a
    space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def classify_shell(line: str) -> str:
    stages = [stage.strip() for stage in unquoted_split(line, "|")]
    words = stages[0].split()
    rest = " ".join(stages[1:])
    if words[:1] == ["kubectl"]:
        if "logs" in words and rest.startswith("jq "):
            return "jq"
        if "exec" in words and "--" in words:
            after = words[words.index("--") + 1:]
            if after[:1] == ["python"]:
                return "python"
        return "kubectl"
    if words[:3] == ["docker", "compose", "logs"]:
        return "jq" if rest.startswith("jq ") else "compose"
    if words[:1] == ["docker"] and words[1:2] == ["compose"]:
        return "compose"
    if words[:1] == ["python"] and words[1:2] in (["-m"], ["-c"]):
        return "python"
    if words[:1] in (["mongodump"], ["mongorestore"]):
        return "mongo-tools"
    return "unclassified"


def classify_inline(code: str) -> str | None:
    """The kind of an inline code span that is a command, or None for a mention (a metric, a
    field, a route)."""
    words = code.split()
    if len(words) < 2:  # a name (`jq`, `python`), not a command
        return None
    if words[0] in ("kubectl", "docker", "python", "jq", "mongodump", "mongorestore", "curl",
                    "sh", "bash", "sort", "grep"):
        kind = classify_shell(code)
        return kind if kind != "unclassified" else "unclassified"
    if re.match(r"(db|rs)\.\w+", code):
        return "mongosh"
    if PROMQL_CALL.search(code) and re.search(r"[a-z_]+\{|\[\d+[smhd]\]", code):
        return "promql"
    return None


def parse(doc: str, text: str) -> list[Command]:
    """Every command of one document, in order."""
    sections = [(m.start(), anchor(m.group(1))) for m in HEADING.finditer(text)]

    def section_at(offset: int) -> str:
        found = ""
        for start, name in sections:
            if start <= offset:
                found = name
        return found

    def line_at(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    commands: list[Command] = []
    fenced: list[tuple[int, int]] = []
    for number, match in enumerate(FENCE.finditer(text)):
        fenced.append((match.start(), match.end()))
        indent, lang = match.group("indent"), match.group("lang")
        body = [line[len(indent):] if line.startswith(indent) else line
                for line in match.group("body").splitlines()]
        before = text[:match.start()].rstrip().rsplit("\n", 1)[-1]
        found = EXPECT.search(before)
        expect = tuple(c.strip() for c in found.group("clauses").split(";") if c.strip()) \
            if found else ()
        common = {"doc": doc, "section": section_at(match.start()), "expect": expect,
                  "block": number, "line": line_at(match.start())}
        if lang == "promql":
            query = "\n".join(line for line in body if not line.lstrip().startswith("#"))
            commands.append(Command(kind="promql", text=query.strip(), **common))
        elif lang == "yaml":
            commands.append(Command(kind="yaml", text="\n".join(body), **common))
        elif lang in ("sh", "mongosh"):
            for line in body:
                stripped = strip_comment(line).strip() if lang == "sh" else line.strip()
                if stripped and not stripped.startswith("//"):
                    kind = classify_shell(stripped) if lang == "sh" else "mongosh"
                    commands.append(Command(kind=kind, text=stripped, **common))
        else:
            commands.append(Command(kind="unclassified", text=f"```{lang} block", **common))
    for match in INLINE.finditer(text):
        if any(start <= match.start() < end for start, end in fenced):
            continue
        if text[:match.start()].rstrip().endswith("<!--"):
            continue
        kind = classify_inline(match.group(1))
        if kind is not None:
            commands.append(Command(doc=doc, section=section_at(match.start()), kind=kind,
                                    text=match.group(1), line=line_at(match.start()),
                                    block=-1, inline=True))
    return commands


def read_commands(root: Path, texts: Mapping[str, str] | None = None) -> list[Command]:
    """The commands of both documents (`texts`: their text by path, else read from `root`)."""
    found: list[Command] = []
    for doc in DOCS:
        text = texts[doc] if texts is not None else (root / doc).read_text()
        found += parse(doc, text)
    return found


def problems_of_classification(commands: Iterable[Command]) -> list[str]:
    problems = []
    for command in commands:
        if command.kind == "unclassified":
            problems.append(f"not a command the test knows how to check: {command.where()}")
        elif command.inline and command.kind in RUN_KINDS:
            problems.append(f"a {command.kind} command inline: put it in a block with its "
                            f"<!-- expect: ... -->: {command.where()}")
        elif command.kind in RUN_KINDS and not command.expect:
            problems.append(f"no <!-- expect: ... --> before its block: {command.where()}")
    return problems


def fill(text: str, table: Mapping[str, str]) -> str:
    """Placeholders (whole words, or literal paths) replaced from the table."""
    for key in sorted(table, key=len, reverse=True):
        pattern = re.escape(key) if not key.isidentifier() else rf"\b{re.escape(key)}\b"
        text = re.sub(pattern, lambda _m, k=key: table[k], text)
    return text


# What running a command must give.

QUOTED = r'"((?:[^"\\]|\\.)*)"'


def check_output(clauses: Iterable[str], output: str) -> list[str]:
    """Clauses on a command's output: `has "text"`, `lacks "text"`, `matches "regex"` (a line),
    `descending` (the first column, as numbers, never grows; at least two lines), `nonempty`."""
    problems = []
    lines = [line for line in output.splitlines() if line.strip()]
    for clause in clauses:
        if m := re.fullmatch(rf"has {QUOTED}", clause):
            if m.group(1) not in output:
                problems.append(f"expected {m.group(1)!r} in the output")
        elif m := re.fullmatch(rf"lacks {QUOTED}", clause):
            if m.group(1) in output:
                problems.append(f"expected no {m.group(1)!r} in the output")
        elif m := re.fullmatch(rf"matches {QUOTED}", clause):
            if not re.search(m.group(1), output, re.M):
                problems.append(f"expected a line matching {m.group(1)!r}")
        elif clause == "descending":
            try:
                firsts = [float(line.split()[0]) for line in lines]
            except ValueError:
                problems.append("the first column is not a number on every line")
                continue
            if len(firsts) < 2 or firsts != sorted(firsts, reverse=True):
                problems.append(f"not sorted as numbers, largest first: {firsts}")
        elif clause == "nonempty":
            if not lines:
                problems.append("expected output")
        elif not re.fullmatch(r"exit \d+", clause) and clause != "serves":
            problems.append(f"unknown clause {clause!r}")
    return problems


def expected_exit(clauses: Iterable[str]) -> int:
    for clause in clauses:
        if m := re.fullmatch(r"exit (\d+)", clause):
            return int(m.group(1))
    return 0


LABELS = re.compile(rf"\s*(\w+)={QUOTED}\s*,?")


def check_series(clauses: Iterable[str], result: list[dict[str, Any]]) -> list[str]:
    """Clauses on a PromQL result (an instant vector): `nonempty`, `empty`, `value > N`,
    `value == N`, `value < N` (every sample), and label matchers `a="x", b="y"` (some series
    has all of them)."""
    problems = []
    values = [float(sample["value"][1]) for sample in result]
    for clause in clauses:
        if clause == "nonempty":
            if not result:
                problems.append("expected a series")
        elif clause == "empty":
            if result:
                problems.append("expected no series")
        elif m := re.fullmatch(r"value (>|==|<) (-?[\d.]+)", clause):
            op, bound = m.group(1), float(m.group(2))
            holds = {">": bound.__lt__, "==": bound.__eq__, "<": bound.__gt__}[op]
            if not values or not all(holds(v) for v in values):
                problems.append(f"expected every value {op} {bound}: {values}")
        elif LABELS.fullmatch(clause) or re.fullmatch(rf"(\s*\w+={QUOTED}\s*,?)+", clause):
            wanted = dict(re.findall(rf"(\w+)={QUOTED}", clause))
            if not any(all(s["metric"].get(k) == v for k, v in wanted.items()) for s in result):
                problems.append(f"expected a series with {wanted}")
        else:
            problems.append(f"unknown clause {clause!r}")
    return problems


# Running the commands that run here.

def jq_pipeline(command: str, log_file: Path) -> str:
    """The pipeline with its log source (`kubectl ... logs ...`, `docker compose logs ...`)
    replaced by the captured log; the rest as written."""
    _source, *rest = unquoted_split(command, "|")
    assert rest, command
    return f"cat {shlex.quote(str(log_file))} |" + "|".join(rest)


def jq_filters(command: str) -> list[str]:
    """The filter argument of every `jq` stage."""
    filters = []
    for stage in unquoted_split(command, "|")[1:]:
        words = shlex.split(stage)
        if words[:1] == ["jq"]:
            filters += [w for w in words[1:] if not w.startswith("-")][:1]
    return filters


def jq_fields(jq_filter: str) -> set[str]:
    """The object keys a jq filter reads (`.name`, `{name}` shorthand aside), strings dropped."""
    code = re.sub(r'"(?:\\.|[^"\\])*"', '""', jq_filter)
    return set(re.findall(r"(?<![\w\])])\.([A-Za-z_]\w*)", code))


def run_shell(command: str, *, cwd: Path, env: Mapping[str, str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=dict(env) if env else None,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def python_part(command: str) -> str:
    """The local command of `kubectl exec ... -- python ...` (or the command itself): what runs
    in the pod runs here, with the same arguments and redirections."""
    words = shlex.split(command)
    if words[:1] != ["kubectl"]:
        return command
    index = command.index(" -- ")
    return command[index + len(" -- "):]


# Static checks: what kubectl, mongosh, compose and manifests name must exist.

@dataclass
class Manifests:
    namespaces: set[str] = field(default_factory=set)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    hpas: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, root: Path) -> Manifests:
        found = cls()
        k8s = root / "deploy" / "k8s"
        for path in sorted(k8s.rglob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not isinstance(doc, dict):
                    continue
                kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
                if kind == "Kustomization" and doc.get("namespace"):
                    found.namespaces.add(doc["namespace"])
                elif kind == "Deployment" and "overlays" not in path.parts:
                    found.deployments[name] = doc
                elif kind == "HorizontalPodAutoscaler":
                    found.hpas[name] = doc
                elif kind == "ConfigMap":
                    found.config_maps[name] = doc
                elif kind == "Secret":
                    found.secrets.add(name)
        return found

    def pod_labels(self) -> list[dict[str, str]]:
        return [d["spec"]["template"]["metadata"]["labels"] for d in self.deployments.values()]

    def containers(self, deployment: str) -> dict[str, dict[str, Any]]:
        spec = self.deployments[deployment]["spec"]["template"]["spec"]
        return {c["name"]: c for c in spec["containers"]}

    def max_replicas(self) -> int:
        return max((h["spec"]["maxReplicas"] for h in self.hpas.values()), default=1)


_KUBECTL_VALUED = {"-n", "--namespace", "-l", "--selector", "-c", "--container", "-p", "--patch",
                   "--since", "--tail", "--max-log-requests", "--replicas", "-o", "--output"}


def _options(words: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    options: dict[str, list[str]] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            positional.append("--")
            positional += words[i + 1:]
            break
        if word.startswith("-") and "=" in word:
            key, value = word.split("=", 1)
            options.setdefault(key, []).append(value)
        elif word in _KUBECTL_VALUED and i + 1 < len(words):
            options.setdefault(word, []).append(words[i + 1])
            i += 1
        elif word.startswith("-"):
            options.setdefault(word, []).append("")
        else:
            positional.append(word)
        i += 1
    return options, positional


def check_kubectl(command: str, manifests: Manifests) -> list[str]:
    """What one kubectl command names exists in the manifests, and it reads what it says."""
    source = unquoted_split(command, "|")[0]
    source = source.split(" < ")[0]
    words = shlex.split(source)
    options, positional = _options(words[1:])
    problems = []
    namespace = (options.get("-n") or options.get("--namespace") or [None])[0]
    if namespace is None:
        problems.append("no -n NAMESPACE")
    elif namespace not in manifests.namespaces:
        problems.append(f"namespace {namespace!r} is not the manifests' ({manifests.namespaces})")
    verb = positional[0] if positional else ""
    if verb not in ("logs", "get", "describe", "delete", "exec", "rollout", "set", "patch"):
        problems.append(f"kubectl {verb}: not a verb these runbooks use"
                        + (" (the HorizontalPodAutoscaler undoes a scale: patch the HPA's "
                           "minReplicas)" if verb == "scale" else ""))
    args = positional[1:positional.index("--")] if "--" in positional else positional[1:]
    for arg in args:
        if "/" in arg:
            kind, name = arg.split("/", 1)
            if kind in ("deploy", "deployment", "deployments"):
                if name not in manifests.deployments:
                    problems.append(f"no Deployment {name!r}")
                elif verb == "logs":
                    problems.append("kubectl logs deploy/NAME reads one pod: use -l")
            elif kind in ("hpa", "horizontalpodautoscaler") and name not in manifests.hpas:
                problems.append(f"no HorizontalPodAutoscaler {name!r}")
    if args[:1] == ["hpa"] and len(args) > 1 and args[1] not in manifests.hpas:
        problems.append(f"no HorizontalPodAutoscaler {args[1]!r}")
    for selector in options.get("-l", []) + options.get("--selector", []):
        pairs = dict(pair.split("=", 1) for pair in selector.split(","))
        if not any(all(labels.get(k) == v for k, v in pairs.items())
                   for labels in manifests.pod_labels()):
            problems.append(f"-l {selector}: no pod template has these labels")
    if verb == "logs" and (options.get("-l") or options.get("--selector")):
        if options.get("--tail") != ["-1"]:
            problems.append("kubectl logs -l shows 10 lines a pod unless --tail=-1")
        requests = options.get("--max-log-requests", ["5"])[0]
        if int(requests) < manifests.max_replicas():
            problems.append(f"--max-log-requests={requests} reads fewer pods than the "
                            f"autoscaler's maximum ({manifests.max_replicas()})")
    for container in options.get("-c", []) + options.get("--container", []):
        if not any(container in manifests.containers(d) for d in manifests.deployments):
            problems.append(f"no container {container!r}")
    if verb == "set" and args[:1] == ["image"]:
        deployment = args[1].split("/", 1)[1]
        for assignment in args[2:]:
            container, image = assignment.split("=", 1)
            containers = manifests.containers(deployment) if deployment in \
                manifests.deployments else {}
            if container not in containers:
                problems.append(f"no container {container!r} in {deployment}")
            elif image.rsplit(":", 1)[0] != containers[container]["image"].rsplit(":", 1)[0]:
                problems.append(f"{image}: not the Deployment's image")
    if verb == "patch":
        patch = json.loads((options.get("-p") or options.get("--patch"))[0])
        if args[:1] == ["hpa"] and args[1] in manifests.hpas:
            spec = manifests.hpas[args[1]]["spec"]
            unknown = set(patch.get("spec", {})) - set(spec)
            if unknown or set(patch) - {"spec"}:
                problems.append(f"the patch names fields the HPA does not have: {unknown}")
            low = patch["spec"].get("minReplicas", spec["minReplicas"])
            if not spec["minReplicas"] <= low <= spec["maxReplicas"]:
                problems.append(f"minReplicas {low} outside the HPA's "
                                f"{spec['minReplicas']}..{spec['maxReplicas']}")
    return problems


def check_mongosh(statement: str, collections: Mapping[str, set[str]]) -> list[str]:
    """`db.<collection>.<method>(...)` names a collection the service uses; `db.<method>()`
    and `rs.<method>()` are server commands."""
    if statement.startswith("rs."):
        return []
    m = re.match(r"db\.(\w+)(\.|\()", statement)
    if m is None:
        return [f"not a mongosh statement the test knows: {statement}"]
    if m.group(2) == "(":
        known = ("serverStatus", "adminCommand", "getCollectionNames", "currentOp", "stats")
        return [] if m.group(1) in known else [f"db.{m.group(1)}(): not a known server command"]
    name = m.group(1)
    if name not in collections:
        return [f"db.{name}: the service has no such collection ({sorted(collections)})"]
    problems = []
    for index in re.findall(r"hint\(\"(\w+)\"\)", statement):
        if index not in collections[name]:
            problems.append(f"{name} has no index {index!r}")
    return problems


def check_compose(command: str, services: set[str]) -> list[str]:
    words = unquoted_split(command, "|")[0].split()
    named = [w for w in words[3:] if not w.startswith("-")][:1]
    return [f"compose has no service {n!r}" for n in named if n not in services]


def check_manifest(text: str, manifests: Manifests) -> list[str]:
    """A manifest in the docs (the backup CronJob): its namespace, the ConfigMap and Secret it
    reads and its image are the deployment's."""
    doc = yaml.safe_load(text)
    problems = []
    namespace = doc.get("metadata", {}).get("namespace")
    if namespace not in manifests.namespaces:
        problems.append(f"namespace {namespace!r} is not the manifests' {manifests.namespaces}")
    images = {c["image"].rsplit(":", 1)[0] for d in manifests.deployments
              for c in manifests.containers(d).values()}
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"] if doc.get("kind") == "CronJob" \
        else doc["spec"]["template"]["spec"]
    for container in pod["containers"]:
        if container["image"].rsplit(":", 1)[0] not in images:
            problems.append(f"image {container['image']}: not the Deployment's")
        for source in container.get("envFrom", []):
            if "secretRef" in source and source["secretRef"]["name"] not in manifests.secrets:
                problems.append(f"no Secret {source['secretRef']['name']!r}")
            if "configMapRef" in source and \
                    source["configMapRef"]["name"] not in manifests.config_maps:
                problems.append(f"no ConfigMap {source['configMapRef']['name']!r}")
    return problems


def collections(features: Any, settings: Any) -> dict[str, set[str]]:
    """The collections the service's MongoDB adapter uses, with their index names: those it
    requires, the TTL ones, and the shared rate limiter's. `settings(**env)` makes settings."""
    import asyncio

    async def read() -> dict[str, set[str]]:
        database = features.open_database(settings(MONGO_URI="mongodb://127.0.0.1:9/",
                                                    MONGO_DB="docs"))
        try:
            required = getattr(database, "required_indexes", dict)()
            found = {name: {model.document["name"] for model in models}
                     for name, models in required.items()}
            for name in getattr(database, "ttl_collections", ()):
                found.setdefault(name, set()).add("expiresAt_1")
            if hasattr(database, "shared_rate_limiter"):
                found.setdefault("rate_limits", set())
            return found
        finally:
            await database.close()

    return asyncio.run(read())
