"""Data store policies: RDS databases and EFS file systems, as the platform's stateful services adopt them.

Aurora clusters carry encryption, IAM authentication and backups on the cluster; their instances
carry only network exposure. Engines without IAM database authentication (Oracle, SQL Server) are
not asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policy_rules.core import Report, Setting, number, resource_policy

__all__ = ["POLICIES"]

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
DATABASES = {RDS_INSTANCE: "RDS instance", RDS_CLUSTER: "RDS cluster"}
IAM_AUTH_ENGINES = ("mysql", "mariadb", "postgres", "aurora", "aurora-mysql", "aurora-postgresql")


def _in_a_cluster(props: Mapping[str, Any]) -> bool:
    """An `rds.Instance` that joins an Aurora cluster takes storage, auth and backups from the cluster."""
    return bool(props.get("dbClusterIdentifier"))


def _encrypted(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    kind = DATABASES.get(args.resource_type)
    if kind and not _in_a_cluster(args.props) and args.props.get("storageEncrypted") is not True:
        report(f"{kind} {args.name} must encrypt its storage (storageEncrypted).")


def _not_public(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type in (RDS_INSTANCE, RDS_CLUSTER_INSTANCE) and args.props.get("publiclyAccessible") is True:
        kind = "RDS instance" if args.resource_type == RDS_INSTANCE else "RDS cluster instance"
        report(f"{kind} {args.name} must not be publicly accessible (publiclyAccessible).")


def _iam_auth(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    kind = DATABASES.get(args.resource_type)
    if kind is None or _in_a_cluster(args.props):
        return
    engine = args.props.get("engine")
    supported = engine is None or (isinstance(engine, str) and engine in IAM_AUTH_ENGINES)
    if supported and args.props.get("iamDatabaseAuthenticationEnabled") is not True:
        report(f"{kind} {args.name} must enable IAM database authentication (iamDatabaseAuthenticationEnabled).")


def _backups(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    kind = DATABASES.get(args.resource_type)
    if kind is None or _in_a_cluster(args.props) or args.props.get("replicateSourceDb"):
        return  # read replicas take no backups of their own
    days = number(args.props.get("backupRetentionPeriod"))
    if days is None or days < settings["minimumDays"]:
        report(f"{kind} {args.name} must keep automated backups for at least {settings['minimumDays']} days.")


def _efs(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:efs/fileSystem:FileSystem" and args.props.get("encrypted") is not True:
        report(f"EFS file system {args.name} must be encrypted at rest (encrypted).")


POLICIES = [
    resource_policy("rds-storage-encrypted", "RDS databases must encrypt their storage.", _encrypted),
    resource_policy("rds-not-public", "RDS instances must not be reachable from the internet.", _not_public),
    resource_policy(
        "rds-iam-authentication",
        "RDS databases must accept IAM authentication, so that no password needs to be shared.",
        _iam_auth,
    ),
    resource_policy(
        "rds-backups-retained",
        "RDS databases must keep automated backups.",
        _backups,
        {"minimumDays": Setting("integer", 3, "Fewest days of automated backups a database must keep.")},
    ),
    resource_policy("efs-encrypted", "EFS file systems must be encrypted at rest.", _efs),
]
