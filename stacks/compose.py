"""The one composition function: every environment is built here, from data alone.

Environments differ only in their `StackConfig` (flags and override blocks in
`stacks/Pulumi.<env>.yaml`); there is no branch on the environment's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import (
    AuditStore,
    AuditStoreArgs,
    ModelStore,
    ModelStoreArgs,
    Network,
    NetworkArgs,
    Secrets,
    SecretsArgs,
    platform_tags,
)
from components.secrets import PLATFORM_SECRETS
from stacks.config import StackConfig

__all__ = ["Platform", "build_platform"]


@dataclass(frozen=True)
class Platform:
    """What `build_platform` declared, for stack outputs and tests."""

    aws_provider: aws.Provider
    secrets: Secrets
    network: Network
    model_store: ModelStore
    audit_store: AuditStore


def build_platform(config: StackConfig) -> Platform:
    """Declare every resource of one environment and export its outputs."""
    prefix = f"rampart-{config.environment}"
    aws_provider = aws.Provider(
        f"{prefix}-aws",
        region=config.region,
        default_tags={
            "tags": platform_tags(
                environment=config.environment,
                owner=config.tags.owner,
                cost_center=config.tags.cost_center,
                data_class=config.tags.data_class,
            )
        },
    )
    uses_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})
    protect_state = pulumi.ResourceOptions(providers={"aws": aws_provider}, protect=config.deletion_protection)

    initial_values = {}
    if config.model_hub_token is not None:
        initial_values["model-hub-token"] = pulumi.Output.secret(config.model_hub_token.get_secret_value())
    secrets = Secrets(
        f"{prefix}-secrets",
        SecretsArgs(
            region=config.region,
            secret_names=(*PLATFORM_SECRETS, *config.secrets.service_credentials),
            initial_values=initial_values,
            key_deletion_window_days=config.secrets.key_deletion_window_days,
            recovery_window_days=config.secrets.recovery_window_days,
        ),
        opts=protect_state,
    )
    network = Network(
        f"{prefix}-net",
        NetworkArgs(
            cidr=config.network.cidr,
            availability_zones=config.network.availability_zones,
            nat=config.network.nat,
            interface_endpoints=config.network.interface_endpoints,
            flow_log_retention_days=config.network.flow_log_retention_days,
            kms_key_arn=secrets.key_arn,
            region=config.region,
        ),
        opts=uses_aws,
    )
    model_store = ModelStore(
        f"{prefix}-models",
        ModelStoreArgs(
            kms_key_arn=secrets.key_arn,
            noncurrent_version_days=config.model_storage.noncurrent_version_days,
            protect=config.deletion_protection,
        ),
        opts=uses_aws,
    )
    audit_store = AuditStore(
        f"{prefix}-audit",
        AuditStoreArgs(
            kms_key_arn=secrets.key_arn,
            retention_days=config.audit_storage.retention_days,
            archive_after_days=config.audit_storage.archive_after_days,
        ),
        opts=uses_aws,
    )

    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("private_subnet_ids", network.private_subnet_ids)
    pulumi.export("kms_key_arn", secrets.key_arn)
    pulumi.export("secret_arns", secrets.secret_arns)
    pulumi.export("model_bucket", model_store.bucket_name)
    pulumi.export("audit_bucket", audit_store.bucket_name)
    return Platform(aws_provider, secrets, network, model_store, audit_store)
