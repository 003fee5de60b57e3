"""The observed core stands without the example domain.

`template/example_domain_paths.txt` lists the example domain's files; a project generated
without the example has none of them. Here: every other module of `app` imports (in a fresh
interpreter where importing a listed module fails) and the core app builds, starts and serves;
no test outside the list imports a listed module or calls the example's routes; no core module
names an example route (outside docstrings); and copier.yml excludes exactly the listed files.
In a generated project the list (and copier.yml) are not there, and neither are the files: the
import check then runs on everything that is.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATHS = REPO / "template" / "example_domain_paths.txt"
COPIER = REPO / "copier.yml"
# The example domain's routes: a core test calling one would fail in a core-only project.
EXAMPLE_ROUTES = re.compile(r"/(catalog|content|meta|auth|admin|me)(\b|/|\?|$)|/__test__/curators")


def example_patterns() -> list[str]:
    if not PATHS.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in PATHS.read_text().splitlines())
    return [line for line in lines if line]


def is_example(relative: str, patterns: list[str]) -> bool:
    return any(fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/")
               for pattern in patterns)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(top: str) -> list[Path]:
    return sorted(p for p in (REPO / top).rglob("*.py")
                  if not any(part.startswith(".") or part == "__pycache__" for part in p.parts))


def test_the_list_names_files_that_exist():
    for pattern in example_patterns():
        assert any(is_example(str(p.relative_to(REPO)), [pattern])
                   for p in REPO.glob(pattern.split("*")[0].rstrip("/") + "*")), pattern


CHECK = r'''
import asyncio, importlib, importlib.abc, json, sys

blocked, core = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])


class ExampleDomainIsGone(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in blocked:
            raise ImportError(f"{name} belongs to the example domain")
        return None


sys.meta_path.insert(0, ExampleDomainIsGone())
for name in core:
    importlib.import_module(name)

from aiohttp.test_utils import TestClient, TestServer

from app.__main__ import _parser
from app.config import load_settings
from app.web.app import create_app

from tests.helpers import core_features

features = core_features()
assert _parser(features).parse_args(["serve"]).command == "serve"


async def main():
    settings = load_settings({"APP_ENV": "test"}, needs=features.settings_needs)
    async with TestClient(TestServer(create_app(settings, features=features))) as client:
        hello = await client.get("/hello", params={"name": "core"})
        assert hello.status == 200, hello.status
        assert (await hello.json())["data"] == {"greeting": "hello, core"}
        for path in ("/livez", "/health", "/ready", "/metrics", "/openapi.json"):
            response = await client.get(path)
            assert response.status == 200, (path, response.status, await response.text())


asyncio.run(main())
leaked = sorted(name for name in sys.modules if name in blocked)
assert not leaked, leaked
print("core ok:", len(core), "modules")
'''


def test_the_core_imports_builds_and_serves_without_the_example_domain():
    patterns = example_patterns()
    modules = {module_name(p): str(p.relative_to(REPO)) for p in python_files("app")}
    blocked = sorted(name for name, path in modules.items() if is_example(path, patterns))
    # Here app.features mounts the example (the core-only features are app.features_core); in a
    # project generated without the example, app.features is the core's and is checked too.
    core = sorted(name for name in modules
                  if name not in blocked and not (patterns and name == "app.features"))
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(blocked), json.dumps(core)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "core ok" in result.stdout


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_core_test_needs_the_example_domain():
    patterns = example_patterns()
    if not patterns:
        pytest.skip("no example domain here: nothing to keep apart")
    listed = {module_name(p) for top in ("app", "tests") for p in python_files(top)
              if is_example(str(p.relative_to(REPO)), patterns)}
    problems = []
    for path in python_files("tests"):
        relative = str(path.relative_to(REPO))
        if is_example(relative, patterns) or relative.startswith(("tests/template/",)):
            continue
        tree = ast.parse(path.read_text(), relative)
        problems += [f"{relative}: imports {name}" for name in sorted(_imports(tree) & listed)]
        problems += [f"{relative}:{node.lineno}: calls {node.value!r}" for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and node.value.startswith("/") and EXAMPLE_ROUTES.match(node.value)]
    assert not problems, "list these in template/example_domain_paths.txt or use a core " \
                         "route (/hello, /health, /openapi.json):\n" + "\n".join(problems)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.add(id(first.value))
    return found


def test_no_core_module_names_an_example_route():
    """A core module that knows an example route (a path set, a special case) stops working
    as it should without the example: the routes declare what the core needs of them (e.g.
    `Operation(limit="auth")`). Docstrings may mention them; code may not."""
    patterns = example_patterns()
    if not patterns:
        pytest.skip("no example domain here: nothing to keep apart")
    problems = []
    for path in python_files("app"):
        relative = str(path.relative_to(REPO))
        # app.features is the example's composition root here (the core's in a core project).
        if is_example(relative, patterns) or relative == "app/features.py":
            continue
        tree = ast.parse(path.read_text(), relative)
        docstrings = _docstrings(tree)
        problems += [f"{relative}:{node.lineno}: names {node.value!r}" for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and id(node) not in docstrings and EXAMPLE_ROUTES.search(node.value)]
    assert not problems, "the core must not know the example's routes; let the route " \
                         "declare it where it is registered:\n" + "\n".join(problems)


def _copier_block() -> list[str] | None:
    if not COPIER.exists():
        return None
    text = COPIER.read_text()
    found = re.search(r"# EXAMPLE-DOMAIN-START[^\n]*\n(.*?)\n\s*# EXAMPLE-DOMAIN-END", text, re.S)
    if found is None:
        return None
    entries = []
    for line in found.group(1).splitlines():
        item = line.split(" #", 1)[0].strip()
        if not item.startswith("- "):
            continue
        item = item[2:].strip().strip("'\"")
        entries.append(re.sub(r"\{%.*?%\}", "", item).strip())
    return entries


def test_copier_excludes_exactly_the_listed_files():
    block = _copier_block()
    if block is None or not PATHS.exists():
        pytest.skip("not the template repository")
    assert block == example_patterns()
