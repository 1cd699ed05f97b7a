"""`Observability`: metrics, dashboards, alerts and logs for one cluster.

kube-prometheus-stack (Prometheus, Alertmanager, Grafana, kube-state-metrics, node exporter)
scrapes every `ServiceMonitor`, the DCGM exporter on GPU nodes included. An OpenTelemetry
collector receives traces and logs from the services. Dashboards (`components/dashboards/*.json`)
are provisioned as ConfigMaps picked up by Grafana's sidecar; alerts (`components/alerts/*.yaml`)
become `PrometheusRule` objects.

On the cloud cluster Grafana's admin password is read from Secrets Manager by the External Secrets
Operator through a `ClusterSecretStore` bound to an IRSA role, and the collector ships logs to
KMS-encrypted CloudWatch log groups. Without `cloud` (the on-prem cluster) nothing leaves the site:
Grafana is off (the cloud Grafana federates) and logs stay in the collector's pipeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Annotated, Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, field_validator

from components._kubernetes import helm_release, secured_namespace
from components.gpu_cluster import irsa_trust_policy
from components.settings import settings_dataclass
from platform_facts.kubernetes import GPU_NODE_LABEL, platform_labels
from platform_facts.ports import OTLP_GRPC_PORT
from platform_facts.project import DISPLAY_NAME, LABEL_DOMAIN, METRIC_PREFIX, PROJECT_NAME, label, type_token

__all__ = [
    "ALERTS_DIR",
    "DASHBOARDS_DIR",
    "GATEWAY_LATENCY_BUCKETS_S",
    "CloudIntegration",
    "Observability",
    "ObservabilityArgs",
    "ObservabilitySettings",
    "alert_rule_groups",
    "dashboard_queries",
    "dashboards",
    "latency_slo_seconds",
    "metric_names",
]

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
ALERTS_DIR = Path(__file__).resolve().parent / "alerts"
GATEWAY_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Bucket boundaries of the gateway latency histogram (services/gateway/metrics.py): the SLO must be one."""

_PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    }
)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, label names and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("("):
            continue  # a function call
        name = match.group(0)
        if name.lower() not in _PROMQL_KEYWORDS:
            names.add(name)
    return names


def identity_values() -> dict[str, str]:
    """What dashboards and alert rules name through placeholders (`ray_${metric_prefix}_gateway_...`), so a
    fork's dashboards query the metrics its services export (`platform_facts.project`)."""
    return {
        "project": PROJECT_NAME,
        "display_name": DISPLAY_NAME,
        "metric_prefix": METRIC_PREFIX,
        # kube-state-metrics exports node label `<domain>/<key>` as `label_<domain, '_' for '.' and '-'>_<key>`.
        "label_domain_metric": re.sub(r"[^A-Za-z0-9]", "_", LABEL_DOMAIN),
    }


def _with_identity(text: str) -> str:
    # Plain replacement, not string.Template: Grafana's own `${datasource}` variables stay as they are.
    for key, value in identity_values().items():
        text = text.replace("${" + key + "}", value)
    return text


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard file, parsed, the platform's identity filled in: file stem → Grafana dashboard model."""
    return {path.stem: json.loads(_with_identity(path.read_text())) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) for every target of every panel."""
    return [
        (str(panel.get("title")), str(target.get("expr", "")))
        for panel in dashboard.get("panels", [])
        for target in panel.get("targets", [])
    ]


def latency_slo_seconds(latency_slo_ms: int) -> float:
    """The SLO in seconds; a burn-rate alert can only count requests under a histogram bucket's bound."""
    seconds = latency_slo_ms / 1000
    if seconds not in GATEWAY_LATENCY_BUCKETS_S:
        buckets = ", ".join(f"{int(b * 1000)}" for b in GATEWAY_LATENCY_BUCKETS_S)
        raise ValueError(f"{latency_slo_ms} is not a gateway histogram bucket (one of {buckets})")
    return seconds


def alert_rule_groups(*, latency_slo_ms: int, monthly_budget_usd: float) -> list[dict[str, Any]]:
    """The alert rule groups from `components/alerts/*.yaml`, thresholds filled in from config."""
    seconds = latency_slo_seconds(latency_slo_ms)
    values = {
        "latency_slo_seconds": repr(seconds),
        "monthly_budget_usd": f"{monthly_budget_usd:g}",
        **identity_values(),
    }
    return [yaml.safe_load(Template(path.read_text()).substitute(values)) for path in sorted(ALERTS_DIR.glob("*.yaml"))]


@dataclass(frozen=True)
class CloudIntegration:
    """What the cloud cluster adds: IRSA, Secrets Manager for Grafana, CloudWatch logs."""

    region: str
    cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    grafana_admin_secret_arn: pulumi.Input[str]
    log_retention_days: int


@settings_dataclass(kw_only=True)
class ObservabilitySettings:
    """What an environment chooses about monitoring (stack config `rampart:observability`)."""

    latency_slo_ms: Annotated[int, Field(gt=0)] = 1000
    """p99 latency objective of the gateway (a histogram bucket); the burn-rate alerts are built on it."""
    monthly_budget_usd: Annotated[float, Field(gt=0)] = 50000.0
    """Model spend per month that the budget alert compares against."""
    prometheus_retention: Annotated[str, Field(pattern=r"^\d+[dhw]$")] = "15d"

    @field_validator("latency_slo_ms")
    @classmethod
    def _is_a_histogram_bucket(cls, latency_slo_ms: int) -> int:
        latency_slo_seconds(latency_slo_ms)
        return latency_slo_ms


@dataclass(frozen=True)
class ObservabilityArgs:
    """Inputs of `Observability`: the environment's settings and the cluster it watches."""

    settings: ObservabilitySettings
    environment: str
    data_class: str
    """Label value `rampart.dev/data-class` of the monitoring objects."""
    gpu_namespace: str
    """Namespace of the DCGM exporter (from the cluster's add-ons)."""
    cloud: CloudIntegration | None = None
    namespace: str = "monitoring"
    trace_sources: tuple[str, ...] = ()
    """Namespaces whose pods send OTLP to the collector (the inference platforms' gateways and
    Generators); the monitoring namespace admits them on the collector's OTLP/gRPC port only."""

    def __post_init__(self) -> None:
        if self.cloud is not None and self.cloud.log_retention_days <= 0:
            raise ValueError("cloud.log_retention_days: must be positive")


_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


class Observability(pulumi.ComponentResource):
    """Monitoring stack, dashboards, alert rules and log shipping for one cluster.

    Outputs: `namespace`, `log_group_names` (empty without `cloud`).
    """

    namespace: pulumi.Output[str]
    log_group_names: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: ObservabilityArgs,
        *,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Observability"), name, None, opts)
        labels = platform_labels(environment=args.environment, data_class=args.data_class, component="observability")
        on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = secured_namespace(
            f"{name}-ns",
            name=args.namespace,
            labels=labels,
            pod_security="privileged",  # node exporter reads host metrics
            opts=on_cluster,
        )
        in_namespace = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
        if args.trace_sources:
            # The namespace denies ingress by default; spans may reach the collector, and nothing else may.
            k8s.networking.v1.NetworkPolicy(
                f"{name}-otlp-ingress",
                metadata={"name": "otlp-from-serving", "namespace": args.namespace, "labels": labels},
                spec={
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": source}}}
                            for source in args.trace_sources
                        ],
                        "ports": [{"protocol": "TCP", "port": OTLP_GRPC_PORT}],
                    }],
                },
                opts=in_namespace,
            )

        grafana: dict[str, Any] = {"enabled": False}
        log_groups: list[aws.cloudwatch.LogGroup] = []
        otel_exporters: dict[str, Any] = {"debug": {"verbosity": "basic"}}
        otel_service_account: dict[str, Any] = {"create": True, "name": "otel-collector"}
        grafana_dependencies: list[pulumi.Resource] = []
        if args.cloud is not None:
            grafana_dependencies.append(self._grafana_admin_secret(name, args, args.cloud, labels, in_namespace))
            grafana = {
                "enabled": True,
                "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"},
                "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
                "containerSecurityContext": _RESTRICTED_CONTAINER,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"cpu": "500m", "memory": "512Mi"},
                },
            }
            log_groups = [
                aws.cloudwatch.LogGroup(
                    f"{name}-{stream}-logs",
                    name=pulumi.Output.concat(f"/{PROJECT_NAME}/", args.cloud.cluster_name, f"/{stream}"),
                    retention_in_days=args.cloud.log_retention_days,
                    kms_key_id=args.cloud.kms_key_arn,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                for stream in ("services", "gateway-audit")
            ]
            collector_role = self._irsa_role(
                f"{name}-otel-role",
                args.cloud,
                args.namespace,
                "otel-collector",
                pulumi.Output.all(*[group.arn for group in log_groups]).apply(
                    lambda arns: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                    "Resource": [f"{arn}:*" for arn in arns],
                                }
                            ],
                        }
                    )
                ),
            )
            otel_service_account["annotations"] = {"eks.amazonaws.com/role-arn": collector_role.arn}
            otel_exporters["awscloudwatchlogs"] = {
                "region": args.cloud.region,
                "log_group_name": log_groups[0].name,
                "log_stream_name": "otel-collector",
            }

        stack = helm_release(
            f"{name}-kube-prometheus",
            "kube-prometheus-stack",
            namespace=args.namespace,
            values={
                "grafana": grafana,
                "prometheus": {
                    "prometheusSpec": {
                        "retention": args.settings.prometheus_retention,
                        # Select every ServiceMonitor/PrometheusRule, not only the chart's own.
                        "serviceMonitorSelectorNilUsesHelmValues": False,
                        "podMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                        "externalLabels": {"environment": args.environment},
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000},
                    }
                },
                "alertmanager": {"enabled": True},
                # kube_node_labels carries only allow-listed labels; the cost dashboard counts GPU nodes.
                "kube-state-metrics": {"metricLabelsAllowlist": [f"nodes=[{GPU_NODE_LABEL},{label('pool')}]"]},
                # Its admission webhook only validates rule syntax, which the repository's tests
                # already check; without it nothing outside the namespace needs to reach in.
                "prometheusOperator": {"admissionWebhooks": {"enabled": False}},
                "commonLabels": labels,
            },
            opts=pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=grafana_dependencies)),
        )
        after_stack = pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=[stack]))
        k8s.apiextensions.CustomResource(
            f"{name}-dcgm-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "dcgm-exporter", "namespace": args.namespace, "labels": labels},
            spec={
                "namespaceSelector": {"matchNames": [args.gpu_namespace]},
                "selector": {"matchLabels": {"app": "nvidia-dcgm-exporter"}},
                "endpoints": [{"port": "gpu-metrics", "interval": "15s"}],
            },
            opts=after_stack,
        )
        helm_release(
            f"{name}-otel",
            "opentelemetry-collector",
            namespace=args.namespace,
            values={
                "mode": "deployment",
                # A fixed Service name, `otel-collector.<namespace>`: the gateway configs send spans there.
                "fullnameOverride": "otel-collector",
                "replicaCount": 2,
                "image": {"repository": "otel/opentelemetry-collector-contrib"},
                "serviceAccount": otel_service_account,
                "securityContext": _RESTRICTED_CONTAINER,
                "resources": {
                    "requests": {"cpu": "200m", "memory": "512Mi"},
                    "limits": {"cpu": "1", "memory": "512Mi"},
                },
                "config": {
                    "receivers": {
                        "otlp": {
                            "protocols": {
                                "grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"},
                                "http": {"endpoint": "0.0.0.0:4318"},
                            }
                        }
                    },
                    "exporters": otel_exporters,
                    "service": {
                        "pipelines": {
                            "logs": {"receivers": ["otlp"], "exporters": sorted(otel_exporters)},
                            "traces": {"receivers": ["otlp"], "exporters": ["debug"]},
                        }
                    },
                },
                "podLabels": labels,
            },
            opts=in_namespace,
        )
        for stem, dashboard in dashboards().items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata={
                    "name": f"{PROJECT_NAME}-dashboard-{stem}",
                    "namespace": args.namespace,
                    "labels": {**labels, "grafana_dashboard": "1"},
                },
                data={f"{stem}.json": json.dumps(dashboard, sort_keys=True)},
                opts=in_namespace,
            )
        for group in alert_rule_groups(
            latency_slo_ms=args.settings.latency_slo_ms, monthly_budget_usd=args.settings.monthly_budget_usd
        ):
            k8s.apiextensions.CustomResource(
                f"{name}-{group['name']}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": group["name"], "namespace": args.namespace, "labels": labels},
                spec={"groups": [group]},
                opts=after_stack,
            )

        self.namespace = pulumi.Output.from_input(args.namespace)
        self.log_group_names = pulumi.Output.all(*[group.name for group in log_groups])
        self.register_outputs({"namespace": self.namespace, "log_group_names": self.log_group_names})

    def _irsa_role(
        self,
        resource_name: str,
        cloud: CloudIntegration,
        namespace: str,
        service_account: str,
        policy: pulumi.Input[str],
    ) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            resource_name,
            assume_role_policy=pulumi.Output.all(cloud.oidc_provider_arn, cloud.oidc_issuer).apply(
                lambda values: irsa_trust_policy(values[0], values[1], namespace, service_account)
            ),
            opts=child,
        )
        aws.iam.RolePolicy(f"{resource_name}-policy", role=role.id, policy=policy, opts=child)
        return role

    def _grafana_admin_secret(
        self,
        name: str,
        args: ObservabilityArgs,
        cloud: CloudIntegration,
        labels: Mapping[str, str],
        in_namespace: pulumi.ResourceOptions,
    ) -> pulumi.Resource:
        """External Secrets Operator (IRSA), a `ClusterSecretStore`, and the Grafana admin `ExternalSecret`."""
        eso_namespace, eso_account = "external-secrets", "external-secrets"
        role = self._irsa_role(
            f"{name}-eso-role",
            cloud,
            eso_namespace,
            eso_account,
            pulumi.Output.all(cloud.grafana_admin_secret_arn, cloud.kms_key_arn).apply(
                lambda values: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                                "Resource": values[0],
                            },
                            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": values[1]},
                        ],
                    }
                )
            ),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=in_namespace.provider)
        eso_labels = {**labels, "app.kubernetes.io/component": "external-secrets"}
        eso_ns = secured_namespace(
            f"{name}-eso-ns",
            name=eso_namespace,
            labels=eso_labels,
            pod_security="restricted",
            webhook_ports=[10250],  # the ESO webhook validates ExternalSecret objects
            opts=on_cluster,
        )
        operator = helm_release(
            f"{name}-external-secrets",
            "external-secrets",
            namespace=eso_namespace,
            values={
                "serviceAccount": {"name": eso_account, "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
                "securityContext": _RESTRICTED_CONTAINER,
                "resources": {
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "commonLabels": eso_labels,
            },
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[eso_ns])),
        )
        store = k8s.apiextensions.CustomResource(
            f"{name}-secret-store",
            api_version="external-secrets.io/v1",
            kind="ClusterSecretStore",
            metadata={"name": "aws-secrets-manager", "labels": eso_labels},
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": cloud.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": eso_account, "namespace": eso_namespace}}},
                    }
                }
            },
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[operator])),
        )
        secret: pulumi.Resource = k8s.apiextensions.CustomResource(
            f"{name}-grafana-admin",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata={"name": "grafana-admin", "namespace": args.namespace, "labels": labels},
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"},
                "target": {
                    "name": "grafana-admin",
                    "creationPolicy": "Owner",
                    "template": {"data": {"admin-user": "admin", "admin-password": "{{ .password }}"}},
                },
                "data": [{"secretKey": "password", "remoteRef": {"key": cloud.grafana_admin_secret_arn}}],
            },
            opts=pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=[store])),
        )
        return secret
