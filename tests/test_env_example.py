"""The deployment checklist, automated: `.env.example` lists exactly the variables the code reads,
and only `app/config.py` reads the environment."""

import ast
import re

from app.config import KNOWN_VARIABLES
from tests.service import REPO

APP = REPO / "app"


def example_variables() -> set[str]:
    names = set()
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.match(r"\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def env_names_read_in(source: str) -> set[str]:
    """Upper-case string literals passed to calls in config.py: the names it reads."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and re.fullmatch(
                    r"[A-Z][A-Z0-9_]+", arg.value
                ):
                    names.add(arg.value)
    return names


def test_example_lists_every_known_variable():
    missing = set(KNOWN_VARIABLES) - example_variables()
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_example_lists_only_known_variables():
    # A stale name copied from the example into a .env would now stop the service at start.
    stale = example_variables() - set(KNOWN_VARIABLES)
    assert not stale, f".env.example lists {sorted(stale)}, which the code does not read"


def test_every_variable_read_is_declared():
    read = env_names_read_in((APP / "config.py").read_text())
    assert {"PORT", "MONGO_URI", "JWT_ACCESS_SECRET_PREVIOUS"} <= read  # the scan sees reads
    undeclared = read - set(KNOWN_VARIABLES)
    assert not undeclared, f"config.py reads {sorted(undeclared)} without declaring them"


def test_only_config_reads_the_environment():
    offenders = []
    for path in APP.rglob("*.py"):
        if path.name == "config.py" and path.parent == APP:
            continue
        text = path.read_text()
        if re.search(r"os\.environ|getenv\(", text):
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders


def test_example_has_placeholders_only():
    for line in (REPO / ".env.example").read_text().splitlines():
        if "SECRET=" in line and not line.lstrip().startswith("#"):
            value = line.split("=", 1)[1]
            assert value == "" or "change-me" in value, line
