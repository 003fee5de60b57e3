"""The generated promtool tests pin what the rules say: each mutation of alerts/slo.yml below (a
threshold, a `for:`, the fast page's windows swapped, a route dropped from the selectors) makes
`promtool test rules alerts/tests/slo_test.yml` fail. Generic: the mutations come from service.yml
and the app's own route table."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generate.spec import (
    PAGE_FAST,
    PAGE_SLOW,
    TICKET,
    Context,
    load_context,
    number,
    promql_string,
    regex_escape,
)
from tests.conftest import require_or_skip
from tests.service import REPO

Rules = dict[str, Any]
Mutation = Callable[[Rules, Context], None]
CHEAP = 30  # minutes: cases evaluated up to here run first (most mutations fail one of them)


def _slo_groups(rules: Rules, ctx: Context):
    for group in rules["groups"]:
        if group["name"].startswith("slo-"):
            slo = group["name"].removeprefix("slo-")
            yield slo, (ctx.spec.availability if slo == "availability" else ctx.spec.latency), \
                group["rules"]


def _alerts(rules: Rules, ctx: Context, severity: str):
    for _, objective, group in _slo_groups(rules, ctx):
        for rule in group:
            if rule.get("labels", {}).get("severity") == severity:
                yield objective, rule


def _rate(share_long: tuple[float, str, str], ctx: Context) -> float:
    return ctx.spec.burn_rate(share_long[0], share_long[1])


def scale_page(which: tuple[float, str, str], to: float) -> Mutation:
    def mutate(rules: Rules, ctx: Context) -> None:
        rate = _rate(which, ctx)
        for _, rule in _alerts(rules, ctx, "page"):
            assert f"({number(rate)} * " in rule["expr"]
            rule["expr"] = rule["expr"].replace(f"({number(rate)} * ", f"({number(to)} * ")
    return mutate


def ticket_threshold(times: float) -> Mutation:
    def mutate(rules: Rules, ctx: Context) -> None:
        rate = _rate(TICKET, ctx) * times
        for objective, rule in _alerts(rules, ctx, "ticket"):
            rule["expr"], count = re.subn(r"> (\([^)]*\)|[0-9.]+)",
                                          f"> ({number(rate)} * {number(objective.budget)})",
                                          rule["expr"])
            assert count == 2
    return mutate


def hold(severity: str, duration: str) -> Mutation:
    def mutate(rules: Rules, ctx: Context) -> None:
        for _, rule in _alerts(rules, ctx, severity):
            rule["for"] = duration
    return mutate


def swap_fast_windows(rules: Rules, ctx: Context) -> None:
    _, long, short = PAGE_FAST
    for _, rule in _alerts(rules, ctx, "page"):
        expr = rule["expr"].replace(f"ratio_rate{long} ", "@LONG@ ")
        rule["expr"] = expr.replace(f"ratio_rate{short} ", f"ratio_rate{long} ").replace(
            "@LONG@ ", f"ratio_rate{short} ")
        assert rule["expr"] != expr


def drop_route(path: str) -> Mutation:
    def mutate(rules: Rules, ctx: Context) -> None:
        dropped = 0
        for slo, _, group in _slo_groups(rules, ctx):
            routes = ctx.routes(slo)
            if path not in routes:
                continue
            narrower = "route=~" + promql_string(
                "|".join(regex_escape(p) for p in routes if p != path))
            for rule in group:
                if ctx.selector(slo) in rule["expr"]:
                    rule["expr"] = rule["expr"].replace(ctx.selector(slo), narrower)
                    dropped += 1
        assert dropped, path
    return mutate


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        require_or_skip("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _minutes(case: dict[str, Any]) -> int:
    checks = case.get("alert_rule_test", []) + case.get("promql_expr_test", [])
    return max(int(str(check["eval_time"]).removesuffix("m")) for check in checks)


def promtool_fails(tmp_path: Path, mutation: Mutation | None) -> bool:
    """Apply `mutation` to a copy of alerts/slo.yml and run the generated slo_test.yml on it:
    True when promtool fails. The cases run in two batches, the short ones first; the file
    fails when either does."""
    ctx = load_context()
    rules = yaml.safe_load((REPO / "alerts/slo.yml").read_text())
    if mutation is not None:
        mutation(rules, ctx)
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "slo.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    shutil.copy(REPO / "alerts/operations.yml", tmp_path / "operations.yml")
    generated = yaml.safe_load((REPO / "alerts/tests/slo_test.yml").read_text())
    cheap = [case for case in generated["tests"] if _minutes(case) <= CHEAP]
    rest = [case for case in generated["tests"] if _minutes(case) > CHEAP]
    for name, cases in (("cheap.yml", cheap), ("rest.yml", rest)):
        (tmp_path / "tests" / name).write_text(yaml.safe_dump(generated | {"tests": cases}))
        result = _promtool("test", "rules", f"tests/{name}", cwd=tmp_path)
        if result.returncode != 0:
            assert "FAILED" in result.stdout + result.stderr, result.stdout + result.stderr
            return True
    return False


def _route(kind: str) -> str:
    routes = load_context().routes("latency")
    found = [r for r in routes if ("{" in r) == (kind == "templated")]
    if not found:
        pytest.skip(f"no {kind} route in the latency SLO")
    return found[0]


MUTATIONS: dict[str, Mutation] = {
    "fast page threshold 14.4 -> 1000": scale_page(PAGE_FAST, 1000),
    "slow page threshold 6 -> 15": lambda rules, ctx: scale_page(
        PAGE_SLOW, _rate(PAGE_SLOW, ctx) * 2.5)(rules, ctx),
    "ticket threshold 1 -> 5.6": ticket_threshold(5.6),
    "page for 2m -> 30m": hold("page", "30m"),
    "ticket for 15m -> 40m": hold("ticket", "40m"),
    "fast page windows 5m <-> 1h": swap_fast_windows,
    "templated route dropped": lambda rules, ctx: drop_route(_route("templated"))(rules, ctx),
    "untemplated route dropped": lambda rules, ctx: drop_route(_route("untemplated"))(rules,
                                                                                       ctx),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_the_generated_tests_catch_the_mutation(name, tmp_path):
    assert promtool_fails(tmp_path, MUTATIONS[name]), f"{name}: the generated tests still pass"


def test_the_unmutated_rules_pass_the_same_harness(tmp_path):
    assert not promtool_fails(tmp_path, None)
