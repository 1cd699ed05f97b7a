"""`Secrets`: the platform's KMS customer key and its Secrets Manager secrets.

One customer-managed key (rotated yearly) encrypts the secrets, the buckets and the log groups of an
environment. Secret values never pass through this component's outputs: consumers get ARNs and
read values at run time with their own IAM permissions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import pulumi
import pulumi_aws as aws
from pydantic import Field, field_validator

from components.settings import settings_dataclass
from platform_facts.project import type_token

__all__ = ["PLATFORM_SECRETS", "Secrets", "SecretsArgs", "SecretsSettings", "check_secret_names", "key_policy"]

PLATFORM_SECRETS = ("model-hub-token", "gateway-api-keys")
"""Secrets every environment has: the model hub token and the gateway's API-key store."""

_SECRET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def key_policy(account_id: str, region: str, partition: str = "aws") -> str:
    """Key policy: the account administers the key; Logs and Secrets Manager may use it in-region.

    The root statement delegates to IAM (without it the key becomes unmanageable); service access
    is limited by encryption context or `kms:ViaService`, never granted to a wildcard principal.
    """
    root = f"arn:{partition}:iam::{account_id}:root"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsEncrypt",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:*"
                        }
                    },
                },
                {
                    "Sid": "AccountServicesUseViaAws",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": [
                                f"secretsmanager.{region}.amazonaws.com",
                                f"s3.{region}.amazonaws.com",
                            ]
                        }
                    },
                },
            ],
        },
        sort_keys=True,
    )


def check_secret_names(names: Sequence[str]) -> None:
    """Secret names are lower-case letters, digits and dashes, and each is given once."""
    for name in names:
        if not _SECRET_NAME.match(name):
            raise ValueError(f"{name!r} must be lower-case letters, digits and dashes")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")


@settings_dataclass
class SecretsSettings:
    """What an environment chooses about its secrets (stack config `rampart:secrets`)."""

    service_credentials: tuple[str, ...] = ()
    """Extra secrets to create for service credentials (names: lower-case letters, digits, dashes)."""
    key_deletion_window_days: Annotated[int, Field(ge=7, le=30)] = 30
    """Waiting period before a deleted KMS key is destroyed."""
    recovery_window_days: Annotated[int, Field(ge=0, le=30)] = 30
    """Days a deleted secret can still be restored (0 deletes at once)."""

    @field_validator("service_credentials")
    @classmethod
    def _are_secret_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        check_secret_names(names)
        return names


@dataclass(frozen=True)
class SecretsArgs:
    """Inputs of `Secrets`: the environment's settings and the secrets the platform itself needs."""

    region: str
    """AWS region of the key and the secrets."""
    settings: SecretsSettings = field(default_factory=SecretsSettings)
    platform_secrets: Sequence[str] = PLATFORM_SECRETS
    """Secrets the platform needs whatever the environment (values are set later unless given below)."""
    initial_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Optional first values, by secret name; they must be Pulumi secrets (`Output.secret`)."""

    @property
    def secret_names(self) -> tuple[str, ...]:
        """Every secret to create: the platform's first, then the service credentials."""
        return (*self.platform_secrets, *self.settings.service_credentials)

    def __post_init__(self) -> None:
        try:
            check_secret_names(self.secret_names)
        except ValueError as error:
            raise ValueError(f"secret_names: {error}") from None
        unknown = sorted(set(self.initial_values) - set(self.secret_names))
        if unknown:
            raise ValueError(f"initial_values: {', '.join(unknown)} not in secret_names")


class Secrets(pulumi.ComponentResource):
    """A rotating KMS customer key and Secrets Manager secrets encrypted with it.

    Outputs: `key_arn`, `key_id`, `secret_arns` (secret name → ARN; never values).
    """

    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    secret_arns: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("Secrets"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: secrets, buckets and logs",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=args.settings.key_deletion_window_days,
            policy=pulumi.Output.all(identity.account_id, partition.partition).apply(
                lambda values: key_policy(values[0], args.region, values[1])
            ),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{name}", target_key_id=key.key_id, opts=child)

        arns: dict[str, pulumi.Output[str]] = {}
        for secret_name in args.secret_names:
            secret = aws.secretsmanager.Secret(
                f"{name}-{secret_name}",
                description=f"{name}: {secret_name}",
                kms_key_id=key.arn,
                recovery_window_in_days=args.settings.recovery_window_days,
                opts=child,
            )
            if secret_name in args.initial_values:
                aws.secretsmanager.SecretVersion(
                    f"{name}-{secret_name}-initial",
                    secret_id=secret.id,
                    secret_string=pulumi.Output.secret(args.initial_values[secret_name]),
                    opts=pulumi.ResourceOptions(parent=self, ignore_changes=["secretString"]),
                )
            arns[secret_name] = secret.arn

        self.key_arn = key.arn
        self.key_id = key.key_id
        self.secret_arns = pulumi.Output.all(**arns) if arns else pulumi.Output.from_input({})
        self.register_outputs({"key_arn": self.key_arn, "key_id": self.key_id, "secret_arns": self.secret_arns})
