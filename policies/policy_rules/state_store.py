"""State store policies: the database every gateway replica shares (review queue, feedback, promotion state)
outlives any deployment, talks TLS only, and on-prem survives losing a node.

The RDS rules apply to every PostgreSQL the platform declares; the general RDS rules (encryption, privacy,
IAM authentication, backups) are in datastores.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policy_rules.core import Report, number, resource_policy

__all__ = ["POLICIES"]

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


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


POLICIES = [
    resource_policy("rds-deletion-protection", "RDS databases must refuse deletion.", _deletion_protection),
    resource_policy("rds-postgres-tls-required", "PostgreSQL on RDS must accept TLS connections only.",
                    _postgres_tls),
    resource_policy("cnpg-cluster-replicated",
                    "On-prem PostgreSQL (CloudNativePG) must keep a replica and no superuser access.",
                    _cnpg_replicated),
]
