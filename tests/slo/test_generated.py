"""SLOs follow the code: every SLO, alert and dashboard file is derived from service.yml and
the routes the app registers (`make generate`), and stays so. Generic: the app's own route table
and fixture routes, in either variant (the example domain's own checks are in
test_generated_example.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import AVAILABILITY, LATENCY, Operation, build_document, route
from generate import __main__ as cli
from generate import alerts, dashboards, promtool_tests, render_all, sloth, stale
from generate.__main__ import OUTPUTS, main
from generate.spec import (
    NAME,
    Context,
    Latency,
    Spec,
    load_context,
    load_spec,
    operations_of,
)
from tests.conftest import make_settings
from tests.service import REPO

ROUTE_REGEX = re.compile(r'route=~"((?:[^"\\]|\\.)*)"')


def declared(operations, slo: str) -> set[str]:
    return {op.path for op in operations if slo in op.slos}


def routes_in(expr: str) -> set[str]:
    """The route templates a PromQL selector `route=~"..."` matches, read back."""
    (regex,) = set(ROUTE_REGEX.findall(expr))
    regex = regex.replace("\\\\", "\\")  # the PromQL string's escapes
    return {re.sub(r"\\(.)", r"\1", alternative) for alternative in regex.split("|")}


def sli_exprs(text: str, slo: str) -> list[str]:
    group = "slo-availability" if slo == AVAILABILITY else "slo-latency"
    (rules_,) = [g["rules"] for g in yaml.safe_load(text)["groups"] if g["name"] == group]
    return [rule["expr"] for rule in rules_ if "record" in rule and "route=~" in rule["expr"]]


@pytest.fixture(scope="module")
def served():
    return create_app(make_settings())[OPERATIONS]


def test_every_derived_file_is_current():
    """What `python -m generate --check` checks (CI fails on a stale file)."""
    out_of_date = stale(render_all(load_context(), OUTPUTS))
    assert not out_of_date, f"run `make generate`: {', '.join(out_of_date)}"


def test_check_names_the_stale_files(tmp_path, capsys):
    rendered = render_all(load_context(), OUTPUTS)
    for path, text in rendered.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert stale(rendered, tmp_path) == []
    (tmp_path / "alerts/slo.yml").write_text("# edited by hand\n")
    (tmp_path / "slo/sloth.yml").unlink()
    assert stale(rendered, tmp_path) == ["alerts/slo.yml", "slo/sloth.yml"]
    assert main(["--check"]) == 0  # the repository itself
    assert capsys.readouterr().err == ""


def test_the_rules_dashboards_and_sloth_select_exactly_the_declared_routes(served):
    slo_text = (REPO / "alerts/slo.yml").read_text()
    board = json.loads((REPO / "dashboards/slo.json").read_text())
    spec = yaml.safe_load((REPO / "slo/sloth.yml").read_text())
    sloth_slos = {slo["name"]: slo["sli"]["events"] for slo in spec["slos"]}
    for slo in (AVAILABILITY, LATENCY):
        expected = declared(served, slo)
        exprs = sli_exprs(slo_text, slo)
        assert len(exprs) == 6  # 5m, 30m, 1h, 6h, 3d and the window
        assert all(routes_in(expr) == expected for expr in exprs), slo
        events = sloth_slos[f"requests-{slo}"]
        assert routes_in(events["error_query"]) == routes_in(events["total_query"]) == expected
    (per_route,) = [p for p in board["panels"] if "per SLO route" in p["title"]]
    assert routes_in(per_route["targets"][0]["expr"]) == declared(served, LATENCY)


def test_membership(served):
    """Availability: every documented route but the probes and /metrics (which is not
    measured); latency: some of them. Paths that match no route are in neither."""
    availability = declared(served, AVAILABILITY)
    assert availability == {op.path for op in served} - {
        "/livez", "/health", "/ready", "/metrics"}
    assert declared(served, LATENCY) and declared(served, LATENCY) <= availability
    context = load_context()
    assert context.probes == ["/health", "/livez", "/ready"]
    health = [r for g in yaml.safe_load((REPO / "alerts/operations.yml").read_text())["groups"]
              for r in g["rules"] if r["alert"] == "HealthEndpointErrors"]
    assert routes_in(health[0]["expr"]) == set(context.probes)


def test_the_openapi_document_says_which_slos_each_route_counts_toward(served):
    paths = build_document(served)["paths"]
    for op in served:
        assert paths[op.path][op.method.lower()]["x-slos"] == list(op.slos)
    assert paths["/health"]["get"]["x-slos"] == []
    assert paths["/openapi.json"]["get"]["x-slos"] == ["availability"]


def test_a_route_names_only_known_slos():
    app = web.Application()
    app[OPERATIONS] = []

    async def handler(request):  # pragma: no cover
        return web.Response()

    with pytest.raises(ValueError, match="unknown SLO"):
        route(app, Operation("GET", "/x", "x", "x", slos=("availabilty",)), handler)


def _fixture_context() -> Context:
    """The app with three more routes: one in both SLOs, one left to the default, a probe."""
    app = create_app(make_settings())

    async def handler(request):  # pragma: no cover
        return web.Response()

    route(app, Operation("GET", "/widgets/{key}", "A widget", "widgets",
                         slos=(AVAILABILITY, LATENCY)), handler)
    route(app, Operation("POST", "/widgets", "Make a widget", "widgets"), handler)
    route(app, Operation("GET", "/healthz", "Another probe", "operations", slos=()), handler)
    return Context(load_spec(), operations_of(app[OPERATIONS]))


def test_a_new_route_is_in_the_slos_it_declares():
    context = _fixture_context()
    slo_text = alerts.slo(context)
    assert all("/widgets/{key}" in routes_in(e) for e in sli_exprs(slo_text, LATENCY))
    assert all({"/widgets/{key}", "/widgets"} <= routes_in(e)
               for e in sli_exprs(slo_text, AVAILABILITY))
    assert all("/widgets" not in routes_in(e) for e in sli_exprs(slo_text, LATENCY))
    assert "/healthz" not in routes_in(sli_exprs(slo_text, AVAILABILITY)[0])
    board = json.loads(dashboards.RENDERERS["slo.json"](context))
    (per_route,) = [p for p in board["panels"] if "per SLO route" in p["title"]]
    assert "/widgets/{key}" in routes_in(per_route["targets"][0]["expr"])
    sloth_spec = yaml.safe_load(sloth.spec(context))
    assert "/widgets/{key}" in routes_in(sloth_spec["slos"][1]["sli"]["events"]["total_query"])
    health = yaml.safe_load(alerts.operations(context))["groups"][0]["rules"][0]
    assert health["alert"] == "HealthEndpointErrors"
    assert routes_in(health["expr"]) == {"/health", "/healthz", "/livez", "/ready"}


def test_methods_of_a_route_must_agree_on_its_slos():
    app = create_app(make_settings())

    async def handler(request):  # pragma: no cover
        return web.Response()

    route(app, Operation("DELETE", "/openapi.json", "Forget", "meta",
                         slos=(AVAILABILITY, LATENCY)), handler)
    context = Context(load_spec(), operations_of(app[OPERATIONS]))
    with pytest.raises(ValueError, match=r"/openapi\.json disagree on the latency SLO"):
        alerts.slo(context)


def _core_features():
    """The core-only variant's features (this repository's; a generated project has its own
    app/features.py instead)."""
    return pytest.importorskip("app.features_core")


def test_the_core_variant_has_no_auth_alerts_and_its_example_route_is_in_both_slos():
    context = load_context(_core_features())
    assert context.routes(LATENCY) == ["/hello"]
    assert context.routes(AVAILABILITY) == ["/hello", "/openapi.json"]
    names = {r["alert"] for g in yaml.safe_load(alerts.operations(context))["groups"]
             for r in g["rules"]}
    assert names == {"HealthEndpointErrors", "MongoUnreachable", "RateLimitHerd",
                      "ApiInstanceDown"}
    assert "RefreshTokenReuseSpike" not in promtool_tests.operations_tests(context)
    assert "auth_events_total" not in dashboards.RENDERERS["security.json"](context)


def test_spec_values_reach_names_thresholds_and_uids(tmp_path):
    data = yaml.safe_load((REPO / "service.yml").read_text())
    data["name"] = "a-long-service-name-for-uids-x"
    data["slos"]["latency"]["threshold_seconds"] = 1
    data["slos"]["availability"]["objective"] = 99.9
    data["slos"]["window"] = "28d"
    custom = tmp_path / "service.yml"
    custom.write_text(yaml.safe_dump(data))
    spec = load_spec(custom)
    assert spec.latency.threshold_name == "1s" and spec.latency.le == "1.0"
    assert spec.burn_rate(0.02, "1h") == 13.44 and spec.burn_rate(0.1, "3d") == 0.9333333333
    context = load_context(spec=spec)
    slo_text = alerts.slo(context)
    assert "job:slo_requests_slower_than_1s:ratio_rate28d" in slo_text
    assert 'job="a-long-service-name-for-uids-x"' in slo_text
    assert "(13.44 * 0.001)" in slo_text and 'le="1.0"' in slo_text
    uids = [json.loads(render(context))["uid"] for render in dashboards.RENDERERS.values()]
    assert all(len(uid) <= 40 for uid in uids) and len(set(uids)) == 4
    data["slos"]["latency"]["threshold_seconds"] = 0.35
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="latency histogram's bounds"):
        load_spec(bad)
    assert Latency(99, 0.3).threshold_name == "300ms"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _spec_with(tmp_path: Path, **slos) -> Spec:
    data = yaml.safe_load((REPO / "service.yml").read_text())
    data["slos"].update(slos)
    custom = tmp_path / "service-custom.yml"
    custom.write_text(yaml.safe_dump(data))
    return load_spec(custom)


@pytest.mark.parametrize("variant", ["fixture", "core", "window28d"])
def test_generated_rules_and_their_tests_pass_promtool_for_other_route_tables(variant,
                                                                             tmp_path):
    if variant == "window28d":
        context = load_context(spec=_spec_with(tmp_path, window="28d"))
        assert context.spec.burn_rate(0.02, "1h") == 13.44
    else:
        context = _fixture_context() if variant == "fixture" else \
            load_context(_core_features())
    files = {"alerts/slo.yml": alerts.slo, "alerts/operations.yml": alerts.operations,
             **{f"alerts/tests/{n}": r for n, r in promtool_tests.RENDERERS.items()}}
    for path, render in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(render(context))
    checked = _promtool("check", "rules", "alerts/slo.yml", "alerts/operations.yml",
                        cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", *sorted(str(p.relative_to(tmp_path)) for p in
                                              (tmp_path / "alerts/tests").glob("*.yml")),
                       cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_route_with_a_regex_parameter_is_selected_by_its_canonical_template():
    """The `route` label is aiohttp's `resource.canonical`: `/gadgets/{id:\\d+}` is labelled
    `/gadgets/{id}`, so that is what the selectors must match."""
    app = create_app(make_settings())

    async def handler(request):  # pragma: no cover
        return web.Response()

    route(app, Operation("GET", r"/gadgets/{id:\d+}", "A gadget", "gadgets",
                         slos=(AVAILABILITY, LATENCY)), handler)
    (resource,) = [r for r in app.router.resources() if r.canonical.startswith("/gadgets")]
    context = Context(load_spec(), operations_of(app[OPERATIONS]))
    assert resource.canonical == "/gadgets/{id}"
    slo_text = alerts.slo(context)
    for slo in (AVAILABILITY, LATENCY):
        assert all("/gadgets/{id}" in routes_in(e) for e in sli_exprs(slo_text, slo)), slo
    assert ":\\d" not in slo_text and "/gadgets/{id}" in promtool_tests.slo_tests(context)


def test_the_window_is_one_sloth_knows(tmp_path):
    assert _spec_with(tmp_path, window="28d").window == "28d"
    for window in ("4w", "7d", "90d", "30"):
        with pytest.raises(ValueError, match=r"slos\.window must be 28d or 30d") as raised:
            _spec_with(tmp_path, window=window)
        assert "\n" not in str(raised.value)


def test_the_name_rule_is_copiers():
    """copier.yml's service_name validator repeats generate.spec.NAME."""
    for good in ("ab", "orders-api", "a" * 30, "x1-2y"):
        assert NAME.match(good), good
    for bad in ("a", "a-", "a" * 31, "1abc", "Abc", "a_b", "a" * 63):
        assert not NAME.match(bad), bad
    copier = REPO / "copier.yml"
    if copier.exists():
        assert f"regex_search('{NAME.pattern}')" in copier.read_text()


def test_a_spec_or_route_table_problem_is_one_line_and_exit_2(monkeypatch, capsys):
    """No route in the latency SLO: `python -m generate` says so in one line, no traceback."""
    app = create_app(make_settings())
    without_latency = tuple(op for op in operations_of(app[OPERATIONS])
                            if LATENCY not in op.slos)

    def load() -> Context:
        return Context(load_spec(), without_latency).check()

    monkeypatch.setattr(cli, "load_context", load)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("generate: no route declares the latency SLO")
    assert "slos=(AVAILABILITY, LATENCY)" in err and err.count("\n") == 1


def test_auth_alerts_and_panels_follow_routes_tagged_auth():
    """One rule (`Context.has_auth`): a route tagged `auth` brings RefreshTokenReuseSpike, its
    promtool cases and the dashboards' auth panels, whatever its path."""
    app = create_app(make_settings())

    async def handler(request):  # pragma: no cover
        return web.Response()

    route(app, Operation("POST", "/session/renew", "Renew", "auth"), handler)
    context = Context(load_spec(), operations_of(app[OPERATIONS]))
    assert context.has_auth
    assert "RefreshTokenReuseSpike" in alerts.operations(context)
    assert "RefreshTokenReuseSpike" in promtool_tests.operations_tests(context)
    assert "auth_events_total" in dashboards.RENDERERS["security.json"](context)


@pytest.mark.parametrize("key, value", [
    ("runbooks", "docs/runbooks.md"),  # repository-relative: no link in a pager
    ("runbooks", "ftp://files.example.com/docs/runbooks.md"),
    ("runbooks", "https://git.example.com/docs/runbooks.md#api-is-slow"),  # anchors are added
    ("runbooks", "javascript:alert(1)"),
    ("grafana", "//grafana.example.com"),
    ("grafana", "https:///d"),
    ("grafana", "localhost:3000"),
    ("grafana", None),
])
def test_links_must_be_absolute_http_urls(key, value, tmp_path, monkeypatch, capsys):
    data = yaml.safe_load((REPO / "service.yml").read_text())
    data["links"][key] = value
    bad = tmp_path / "service.yml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=rf"^service\.yml: links\.{key} must be an absolute "
                                         r"http\(s\) URL"):
        load_spec(bad)
    monkeypatch.setattr(cli, "load_context", lambda: load_context(spec=load_spec(bad)))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"generate: service.yml: links.{key}") and err.count("\n") == 1


def test_links_reach_every_alert_from_one_base(tmp_path):
    data = yaml.safe_load((REPO / "service.yml").read_text())
    data["links"] = {"runbooks": "https://git.example.com/team/svc/src/branch/main/docs/"
                                 "runbooks.md", "grafana": "https://grafana.example.com/sub/"}
    custom = tmp_path / "service.yml"
    custom.write_text(yaml.safe_dump(data))
    context = load_context(spec=load_spec(custom))
    rules_ = [rule for text in (alerts.slo(context), alerts.operations(context))
              for group in yaml.safe_load(text)["groups"] for rule in group["rules"]
              if "alert" in rule]
    assert rules_
    for rule in rules_:
        annotations = rule["annotations"]
        assert annotations["runbook_url"].startswith(data["links"]["runbooks"] + "#")
        # The trailing slash is dropped: no `//d/`.
        assert annotations["dashboard_url"].startswith("https://grafana.example.com/sub/d/")
    assert "https://grafana.example.com/sub/d/" in promtool_tests.operations_tests(context)
