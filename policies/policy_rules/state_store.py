"""State store policies: the database every gateway replica shares (review queue, feedback, promotion state)
outlives any deployment, talks TLS only, and on-prem survives losing a node; a deployed gateway uses it
(several replicas per cluster: a SQLite file on each pod's disk would split the state and lose it).

The RDS rules apply to every PostgreSQL the platform declares; the general RDS rules (encryption, privacy,
IAM authentication, backups) are in datastores.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml
from pulumi_policy import ResourceValidationArgs

from policy_rules.core import Report, is_mapping, number, resource_policy

__all__ = ["POLICIES"]

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
GATEWAY_CONFIG_MAP = "gateway-config"
"""The ConfigMap an inference platform mounts its rendered gateway config from (key `gateway.yaml`)."""
GATEWAY_CONFIG_KEY = "gateway.yaml"


def _deletion_protection(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    kind = {RDS_INSTANCE: "RDS instance", RDS_CLUSTER: "RDS cluster"}.get(args.resource_type)
    if kind is None or args.props.get("dbClusterIdentifier") or args.props.get("replicateSourceDb"):
        return  # cluster members and read replicas are protected through what they belong to
    if args.props.get("deletionProtection") is not True:
        report(f"{kind} {args.name} must have deletion protection on (deletionProtection).")


def _postgres_tls(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != PARAMETER_GROUP:
        return
    family = args.props.get("family")
    if not isinstance(family, str) or not family.startswith("postgres"):
        return
    parameters = args.props.get("parameters") or []
    forced = any(isinstance(p, Mapping) and p.get("name") == "rds.force_ssl" and str(p.get("value")) == "1"
                 for p in parameters)
    if not forced:
        report(f"RDS parameter group {args.name} must require TLS (rds.force_ssl = 1).")


def _cnpg_replicated(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != CNPG_CLUSTER:
        return
    spec = args.props.get("spec")
    instances = number(spec.get("instances")) if isinstance(spec, Mapping) else None
    if instances is None or instances < 2:
        report(f"CloudNativePG cluster {args.name} must run at least 2 instances (spec.instances).")
    if isinstance(spec, Mapping) and spec.get("enableSuperuserAccess") is True:
        report(f"CloudNativePG cluster {args.name} must not enable superuser access (spec.enableSuperuserAccess).")


def _gateway_state(document: Any) -> Mapping[str, Any] | None:
    """The `state:` block of a gateway config's YAML text, or None when the text is not a config."""
    if not isinstance(document, str):
        return None
    try:
        parsed = yaml.safe_load(document)
    except yaml.YAMLError:
        return None
    if not isinstance(parsed, dict):
        return None
    state = parsed.get("state")
    return state if isinstance(state, dict) else {}


def _gateway_shared_state(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type != CONFIG_MAP:
        return
    metadata = args.props.get("metadata")
    if not is_mapping(metadata) or metadata.get("name") != GATEWAY_CONFIG_MAP:
        return
    data = args.props.get("data")
    state = _gateway_state(data.get(GATEWAY_CONFIG_KEY) if is_mapping(data) else None)
    url = state.get("url") if state is not None else None
    if not isinstance(url, str) or not url.startswith("postgresql"):
        report(f"Gateway config {args.name} must name a state store every replica shares (state.url: "
               "postgresql+psycopg://...), not a SQLite file on each pod's disk.")
        return
    parts = urlsplit(url)
    if parts.password:
        report(f"Gateway config {args.name} must not hold the database password in state.url "
               "(IAM tokens on RDS, a Secret as PGPASSWORD on site).")
    if (parts.hostname or "").endswith(".rds.amazonaws.com") and state is not None and not state.get("aws_iam_region"):
        report(f"Gateway config {args.name} must log in to RDS with IAM tokens (state.aws_iam_region).")


POLICIES = [
    resource_policy("rds-deletion-protection", "RDS databases must refuse deletion.", _deletion_protection),
    resource_policy("rds-postgres-tls-required", "PostgreSQL on RDS must accept TLS connections only.",
                    _postgres_tls),
    resource_policy("cnpg-cluster-replicated",
                    "On-prem PostgreSQL (CloudNativePG) must keep a replica and no superuser access.",
                    _cnpg_replicated),
    resource_policy("gateway-shared-state",
                    "Deployed gateways (several replicas per cluster) must share one PostgreSQL state store.",
                    _gateway_shared_state),
]
