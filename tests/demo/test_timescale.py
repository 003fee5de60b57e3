"""The demo's time compression divides durations where PromQL and Alertmanager have them, and
touches nothing else."""

from __future__ import annotations

import pytest

from demo.timescale import ScaleError, alertmanager_config, divide, scale_promql, scale_rules


def test_durations_divide_exactly_and_spell_shortest():
    assert divide("5m", 60) == "5s"
    assert divide("3d", 60) == "1h12m"
    assert divide("30d", 60) == "12h"
    assert divide("5m", 120) == "2s500ms"
    assert divide("1h30m", 60) == "1m30s"


def test_a_duration_that_would_vanish_is_refused():
    with pytest.raises(ScaleError):
        divide("1ms", 60)
    with pytest.raises(ScaleError):
        divide("soon", 60)


def test_ranges_subqueries_and_offsets_change_strings_and_comments_do_not():
    expr = ('sum(rate(x{path=~"/a[5m]",b=\'[1h]\'}[5m])) / max_over_time(y[1h:5m]) '
            "offset 30m > 14.4 * 0.005 # [5m]")
    assert scale_promql(expr, 60) == (
        'sum(rate(x{path=~"/a[5m]",b=\'[1h]\'}[5s])) / max_over_time(y[1m:5s]) '
        "offset 30s > 14.4 * 0.005 # [5m]")


def test_rules_keep_names_labels_annotations_and_thresholds():
    rules = {"groups": [{"name": "g", "rules": [
        {"record": "job:x:ratio_rate5m", "expr": "sum(rate(x[5m]))"},
        {"alert": "A", "expr": "job:x:ratio_rate5m > (14.4 * 0.005)", "for": "2m",
         "labels": {"severity": "page"}, "annotations": {"summary": "over 5 minutes"}},
    ]}]}
    scaled = scale_rules(rules, 60)["groups"][0]["rules"]
    assert scaled[0] == {"record": "job:x:ratio_rate5m", "expr": "sum(rate(x[5s]))"}
    assert scaled[1] == {**rules["groups"][0]["rules"][1], "for": "2s"}


def test_alertmanager_keeps_routing_and_inhibition_and_points_every_receiver_home():
    config = {"route": {"receiver": "tickets", "group_wait": "30s", "group_interval": "5m",
                        "routes": [{"matchers": ['severity="page"'], "receiver": "pager",
                                    "repeat_interval": "1h"}]},
              "receivers": [{"name": "pager"}, {"name": "tickets"}],
              "inhibit_rules": [{"source_matchers": ['severity="page"'],
                                 "target_matchers": ['severity="ticket"'],
                                 "equal": ["alertname"]}]}
    scaled = alertmanager_config(config, 60, "http://127.0.0.1:9/hook")
    assert scaled["route"]["group_wait"] == "500ms"
    assert scaled["route"]["group_interval"] == "5s"
    assert scaled["route"]["routes"][0] == {"matchers": ['severity="page"'],
                                            "receiver": "pager", "repeat_interval": "1m"}
    assert scaled["inhibit_rules"] == config["inhibit_rules"]
    assert [r["webhook_configs"][0]["url"] for r in scaled["receivers"]] == [
        "http://127.0.0.1:9/hook/pager", "http://127.0.0.1:9/hook/tickets"]
    assert config["route"]["group_wait"] == "30s"  # the input is left alone
