"""`StateDatabase`: the RDS PostgreSQL every gateway replica of a cloud environment shares (services/state).

Private subnets only, storage and Performance Insights encrypted with the platform's KMS key, IAM database
authentication (the gateway connects with a short-lived token, no shared password; the master password is
generated and kept by RDS in Secrets Manager under the same key), TLS required, automated backups, and
deletion protection plus a final snapshot wherever the settings ask (prod).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

import pulumi
import pulumi_aws as aws
from pydantic import Field

from components.settings import settings_dataclass
from platform_facts.project import METRIC_PREFIX, type_token

__all__ = ["StateDatabase", "StateDatabaseArgs", "StateDatabaseSettings", "state_url"]

POSTGRES_PORT = 5432


@settings_dataclass
class StateDatabaseSettings:
    """What an environment chooses about its state database (stack config `rampart:state_database`)."""

    instance_class: str = "db.t4g.medium"
    """RDS instance class; the store's load is a few small writes per request."""
    engine_version: str = "16"
    allocated_storage_gb: Annotated[int, Field(ge=20)] = 20
    max_allocated_storage_gb: Annotated[int, Field(ge=20)] = 100
    """Storage autoscaling ceiling."""
    multi_az: bool = False
    """A standby in a second zone (prod)."""
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    deletion_protection: bool = True
    """Refuse deletion, and keep a final snapshot when it is deleted anyway (prod); off in dev."""
    database: str = METRIC_PREFIX
    iam_user: str = f"{METRIC_PREFIX}_gateway"
    """The database role the gateway logs in as with an IAM token (`rds_iam` granted by the schema bootstrap)."""


@dataclass(frozen=True)
class StateDatabaseArgs:
    """Inputs of a `StateDatabase`."""

    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """At least two, in different zones (RDS needs a subnet group across zones)."""
    client_cidrs: Sequence[str]
    """Where the gateway replicas connect from (the cluster's node subnets); nothing else reaches 5432."""
    kms_key_arn: pulumi.Input[str]
    settings: StateDatabaseSettings = field(default_factory=StateDatabaseSettings)

    def __post_init__(self) -> None:
        if len(self.private_subnet_ids) < 2:
            raise ValueError("private_subnet_ids: RDS needs at least two subnets in different zones")
        if not self.client_cidrs:
            raise ValueError("client_cidrs: name the subnets the gateway connects from")


def state_url(address: str, port: int, database: str, user: str) -> str:
    """The gateway config's `state.url` for this database (IAM token as the password, TLS required)."""
    return f"postgresql+psycopg://{user}@{address}:{port}/{database}?sslmode=require"


class StateDatabase(pulumi.ComponentResource):
    """Outputs: `address`, `url` (for the gateway config), `connect_resource_arn` (for the gateway
    role's `rds-db:connect` permission), `instance_arn`, `master_secret_arn` (the secret RDS keeps the
    master password in: only the role bootstrap reads it); `database` and `iam_user` as configured."""

    address: pulumi.Output[str]
    url: pulumi.Output[str]
    connect_resource_arn: pulumi.Output[str]
    instance_arn: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]
    database: str
    iam_user: str

    def __init__(self, name: str, args: StateDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("StateDatabase"), name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=list(args.private_subnet_ids),
                                      description="Private subnets of the state database", opts=child)
        group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="PostgreSQL from the serving clusters only",
            ingress=[{"protocol": "tcp", "from_port": POSTGRES_PORT, "to_port": POSTGRES_PORT,
                      "cidr_blocks": list(args.client_cidrs)}],
            egress=[], opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-params", family=f"postgres{settings.engine_version.split('.')[0]}",
            description="TLS only; connections and DDL logged",
            parameters=[{"name": "rds.force_ssl", "value": "1"}, {"name": "log_connections", "value": "1"},
                        {"name": "log_statement", "value": "ddl"}],
            opts=child,
        )
        instance = aws.rds.Instance(
            f"{name}-db",
            engine="postgres", engine_version=settings.engine_version, instance_class=settings.instance_class,
            allocated_storage=settings.allocated_storage_gb, max_allocated_storage=settings.max_allocated_storage_gb,
            storage_type="gp3", storage_encrypted=True, kms_key_id=args.kms_key_arn,
            db_name=settings.database, username=f"{METRIC_PREFIX}_admin",
            manage_master_user_password=True, master_user_secret_kms_key_id=args.kms_key_arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=[group.id], publicly_accessible=False,
            parameter_group_name=parameters.name, port=POSTGRES_PORT, multi_az=settings.multi_az,
            backup_retention_period=settings.backup_retention_days, copy_tags_to_snapshot=True,
            deletion_protection=settings.deletion_protection,
            skip_final_snapshot=not settings.deletion_protection,
            final_snapshot_identifier=f"{name}-final" if settings.deletion_protection else None,
            performance_insights_enabled=True, performance_insights_kms_key_id=args.kms_key_arn,
            auto_minor_version_upgrade=True, apply_immediately=False,
            opts=pulumi.ResourceOptions(parent=self, protect=settings.deletion_protection),
        )
        self.address = instance.address
        self.instance_arn = instance.arn
        self.database = settings.database
        self.iam_user = settings.iam_user
        self.master_secret_arn = instance.master_user_secrets.apply(_master_secret_arn)
        self.url = pulumi.Output.all(instance.address, instance.port).apply(
            lambda values: state_url(str(values[0]), int(values[1] or POSTGRES_PORT), settings.database,
                                     settings.iam_user))
        self.connect_resource_arn = pulumi.Output.all(instance.arn, instance.resource_id).apply(
            lambda values: _connect_arn(str(values[0]), str(values[1]), settings.iam_user))
        self.register_outputs({"address": self.address, "url": self.url,
                               "connect_resource_arn": self.connect_resource_arn, "instance_arn": self.instance_arn,
                               "master_secret_arn": self.master_secret_arn})


def _master_secret_arn(secrets: Sequence[aws.rds.outputs.InstanceMasterUserSecret] | None) -> str:
    """The ARN of the master secret RDS created (`manage_master_user_password`): always exactly one."""
    if not secrets or not secrets[0].secret_arn:
        raise ValueError("master_user_secrets: RDS reported no managed master secret")
    return secrets[0].secret_arn


def _connect_arn(instance_arn: str, resource_id: str, user: str) -> str:
    """`arn:aws:rds-db:<region>:<account>:dbuser:<resource id>/<user>` from the instance's ARN."""
    parts = instance_arn.split(":")
    region, account = (parts[3], parts[4]) if len(parts) > 4 else ("*", "*")
    return f"arn:aws:rds-db:{region}:{account}:dbuser:{resource_id}/{user}"
