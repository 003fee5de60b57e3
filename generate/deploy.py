"""The files that put the rules to work: prometheus.yml (compose's Prometheus) and
deploy/k8s/base/prometheusrule.yaml (the same groups, for the Prometheus Operator)."""

from __future__ import annotations

import yaml

from generate import alerts
from generate.spec import HEADER, Context
from generate.yamltext import Commented, Flow, dump


def prometheus_rule(ctx: Context) -> str:
    groups = []
    for render in (alerts.operations, alerts.slo):  # alerts/*.yml, in file name order
        groups += yaml.safe_load(render(ctx))["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": ctx.spec.name},
        "spec": {"groups": groups},
    }
    header = (f"{HEADER}\nThe groups of alerts/operations.yml and alerts/slo.yml, for the "
              "Prometheus Operator; the\nServiceMonitor's job label is the name the rules "
              f'select (job="{ctx.spec.name}").')
    return dump(rule, header)


def prometheus_config(ctx: Context) -> str:
    header = (f"{HEADER}\n\nPrometheus for {ctx.spec.name}: scrape the service, evaluate the "
              "SLO and operational rules, send\nalerts to Alertmanager. Run with "
              "--enable-feature=exemplar-storage to keep the trace_id\nexemplars the service "
              "exposes (OpenMetrics).")
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": Commented(["alerts/*.yml"], blank=True),
        "alerting": Commented({"alertmanagers": [{"static_configs": [
            {"targets": Flow(["alertmanager:9093"])}]}]}, blank=True),
        "scrape_configs": Commented([{
            "job_name": ctx.spec.name,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": Flow(["api:8080"])}],
        }], "The job name is the one every rule and dashboard selects.", blank=True),
    }
    return dump(config, header)
