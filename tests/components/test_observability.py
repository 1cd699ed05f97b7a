"""Dashboards, alert rules and the `Observability` component under mocks (no cluster here).

Every panel query and alert expression must name metrics that something exports: the catalog in
services/metrics_catalog.py is the one list of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from components.observability import (
    DASHBOARDS_DIR,
    ObservabilitySettings,
    alert_rule_groups,
    dashboard_queries,
    dashboards,
    metric_names,
)
from components.settings import SettingsError
from platform_facts import project
from services.metrics_catalog import EXPORTED_METRICS
from stacks.plan import PlanGraph
from tests.stacks.helpers import under

Render = Callable[[str], PlanGraph]
_SERIES_SUFFIX = re.compile(r"_(bucket|sum|count)$")
EXPORTED = {_SERIES_SUFFIX.sub("", name) for name in EXPORTED_METRICS}


def _exported(name: str) -> bool:
    return _SERIES_SUFFIX.sub("", name) in EXPORTED


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (f"sum by (route) (rate({project.METRIC_PREFIX}_gateway_requests_total[5m]))", {project.metric("gateway_requests_total")}),
        ('histogram_quantile(0.99, sum by (le) (rate(x_bucket{le="1.0", a=~"b|c"}[5m])))', {"x_bucket"}),
        ("a / on(node) group_left b > 0.5 and c offset 5m", {"a", "b", "c"}),
        (f"abs(max({project.METRIC_PREFIX}_gateway_input_length_shift)) > 0.5", {project.metric("gateway_input_length_shift")}),
        ("count(up == 0)", {"up"}),
    ],
)
def test_metric_names_reads_the_metrics_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_dashboards_the_issue_asks_for_exist() -> None:
    titles = {stem: board["title"] for stem, board in dashboards().items()}
    assert set(titles) == {"inference", "gpu", "safety", "drift", "cost"}
    uids = [board["uid"] for board in dashboards().values()]
    assert len(set(uids)) == len(uids), "dashboard uids must be unique"


@pytest.mark.parametrize("path", sorted(DASHBOARDS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_panel_queries_exported_metrics(path) -> None:  # type: ignore[no-untyped-def]
    board = dashboards()[path.stem]
    queries = dashboard_queries(board)
    assert queries, f"{path.name} has no queries"
    panel_ids = [panel["id"] for panel in board["panels"]]
    assert len(set(panel_ids)) == len(panel_ids), f"{path.name}: duplicate panel ids"
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{path.name} / {title}: query names no metric: {expr}"
        unknown = sorted(name for name in names if not _exported(name))
        assert not unknown, f"{path.name} / {title}: {unknown} are not in services/metrics_catalog.py"


def test_every_alert_has_a_severity_a_summary_and_exported_metrics() -> None:
    groups = alert_rule_groups(latency_slo_ms=1000, monthly_budget_usd=1234.5)
    alerts = [rule for group in groups for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert {
        "GatewayLatencySloFastBurn",
        "GatewayErrorRateHigh",
        "GpuIdleWhileNodeRuns",
        "EmbeddingCentroidDrift",
        "ModelSpendOverBudget",
    } <= names
    for rule in alerts:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        unknown = sorted(name for name in metric_names(rule["expr"]) if not _exported(name))
        assert metric_names(rule["expr"]) and not unknown, f"{rule['alert']}: {unknown}"


def test_alert_thresholds_come_from_config() -> None:
    groups = {g["name"]: g for g in alert_rule_groups(latency_slo_ms=250, monthly_budget_usd=1234.5)}
    slo = next(r for r in groups[f"{project.PROJECT_NAME}-slo"]["rules"] if r["alert"] == "GatewayLatencySloFastBurn")
    assert 'le="0.25"' in slo["expr"] and "$" not in slo["expr"]
    budget = next(r for r in groups[f"{project.PROJECT_NAME}-budget"]["rules"] if r["alert"] == "ModelSpendOverBudget")
    assert budget["expr"].strip().endswith("> 1234.5")


def test_drift_alert_fires_per_vector_space() -> None:
    """Each space (`prompts`, each embedding model) has its own baseline; the alert names the one that moved."""
    groups = {g["name"]: g for g in alert_rule_groups(latency_slo_ms=250, monthly_budget_usd=1.0)}
    drift = next(r for r in groups[f"{project.PROJECT_NAME}-drift"]["rules"] if r["alert"] == "EmbeddingCentroidDrift")
    assert drift["expr"].startswith("max by (space) (")
    assert "{{ $labels.space }}" in drift["annotations"]["summary"]


def test_an_slo_that_is_not_a_histogram_bucket_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"latency_slo_ms: 300 is not a gateway histogram bucket"):
        ObservabilitySettings(latency_slo_ms=300)


def _cloud_observability(graph: PlanGraph):  # type: ignore[no-untyped-def]
    (observability,) = [o for o in graph.of_type(project.type_token("Observability")) if "-eks-" in o.name]
    return observability


def test_dashboards_and_rules_are_provisioned_as_objects(rendered: Render) -> None:
    graph = rendered("prod")
    observability = _cloud_observability(graph)
    maps = under(graph, observability, "kubernetes:core/v1:ConfigMap")
    assert len(maps) == len(dashboards())
    for config_map in maps:
        assert config_map.inputs["metadata"]["labels"]["grafana_dashboard"] == "1", config_map.urn
        (content,) = config_map.inputs["data"].values()
        assert json.loads(content)["panels"], config_map.urn
    rules = under(graph, observability, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert sorted(r.inputs["metadata"]["name"] for r in rules) == [
        f"{project.PROJECT_NAME}-budget",
        f"{project.PROJECT_NAME}-drift",
        f"{project.PROJECT_NAME}-gpu",
        f"{project.PROJECT_NAME}-slo",
    ]
    (monitor,) = under(graph, observability, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert monitor.inputs["spec"]["namespaceSelector"]["matchNames"] == ["gpu-system"], monitor.urn


def test_grafana_admin_password_comes_from_secrets_manager_through_irsa(rendered: Render) -> None:
    graph = rendered("prod")
    observability = _cloud_observability(graph)
    (stack,) = [
        r
        for r in under(graph, observability, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "kube-prometheus-stack"
    ]
    grafana = stack.inputs["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin", stack.urn
    assert "adminPassword" not in json.dumps(stack.inputs["values"]), f"{stack.urn} sets a password in values"
    (external,) = under(graph, observability, "kubernetes:external-secrets.io/v1:ExternalSecret")
    (secret,) = [s for s in graph.of_type("aws:secretsmanager/secret:Secret") if s.name.endswith("-grafana-admin")]
    assert external.inputs["spec"]["data"][0]["remoteRef"]["key"] == secret.outputs["arn"], external.urn
    assert external.inputs["spec"]["target"]["name"] == "grafana-admin", external.urn
    (store,) = under(graph, observability, "kubernetes:external-secrets.io/v1:ClusterSecretStore")
    account = store.inputs["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]
    (eso,) = [
        r
        for r in under(graph, observability, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "external-secrets"
    ]
    role_arn = eso.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn]
    assert f"system:serviceaccount:{account['namespace']}:{account['name']}" in role.inputs["assumeRolePolicy"], (
        role.urn
    )
    (policy,) = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert statements[0]["Resource"] == secret.outputs["arn"], "ESO may read exactly the Grafana secret"


def test_log_groups_have_retention_and_kms(rendered: Render) -> None:
    graph = rendered("prod")
    groups = under(graph, _cloud_observability(graph), "aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 2
    (key,) = graph.of_type("aws:kms/key:Key")
    for group in groups:
        assert group.inputs["retentionInDays"] == 365 and group.inputs["kmsKeyId"] == key.outputs["arn"], group.urn


def test_onprem_monitoring_has_no_grafana_and_ships_nothing_off_site(rendered: Render) -> None:
    graph = rendered("prod")
    (onprem,) = [o for o in graph.of_type(project.type_token("Observability")) if "-onprem-" in o.name]
    releases = {r.inputs["chart"]: r for r in under(graph, onprem, "kubernetes:helm.sh/v3:Release")}
    assert releases["kube-prometheus-stack"].inputs["values"]["grafana"] == {"enabled": False}
    assert "awscloudwatchlogs" not in releases["opentelemetry-collector"].inputs["values"]["config"]["exporters"]


def test_only_webhook_and_client_ports_are_open_to_every_source(rendered: Render) -> None:
    """The ESO and ingress-nginx admission webhooks (called by the API server), and ingress-nginx's HTTPS port."""
    graph = rendered("prod")
    open_to_all = [
        p
        for p in graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if any("from" not in rule for rule in p.inputs["spec"].get("ingress", []))
    ]
    assert [(p.inputs["metadata"]["namespace"], p.inputs["spec"]["ingress"]) for p in open_to_all] == [
        ("ingress-nginx", [{"ports": [{"protocol": "TCP", "port": 8443}]}]),
        ("ingress-nginx", [{"ports": [{"protocol": "TCP", "port": 443}]}]),
        ("external-secrets", [{"ports": [{"protocol": "TCP", "port": 10250}]}]),
    ]


def test_spans_can_reach_the_collector_from_the_serving_namespaces_only(rendered: Render) -> None:
    """The monitoring namespace denies ingress by default; the gateway configs send OTLP to the collector."""
    graph = rendered("prod")
    for observability in graph.of_type(project.type_token("Observability")):
        policies = [p for p in under(graph, observability, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                    if p.inputs["metadata"]["name"] == "otlp-from-serving"]
        assert len(policies) == 1, observability.urn
        spec = policies[0].inputs["spec"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "opentelemetry-collector"}
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": 4317}], observability.urn
        sources = [s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in rule["from"]]
        assert sources and all(source.startswith(f"{project.PROJECT_NAME}-") for source in sources), sources
