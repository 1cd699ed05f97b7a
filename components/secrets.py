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

import pulumi
import pulumi_aws as aws

__all__ = ["PLATFORM_SECRETS", "Secrets", "SecretsArgs", "key_policy"]

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
                    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
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


@dataclass(frozen=True)
class SecretsArgs:
    """Inputs of `Secrets`."""

    region: str
    """AWS region of the key and the secrets."""
    secret_names: Sequence[str] = PLATFORM_SECRETS
    """Secrets to create (lower-case, dashes); values are set later unless given below."""
    initial_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Optional first values, by secret name; they must be Pulumi secrets (`Output.secret`)."""
    key_deletion_window_days: int = 30
    """Waiting period before a deleted key is destroyed (7..30)."""
    recovery_window_days: int = 30
    """Days a deleted secret can be restored (0..30)."""

    def __post_init__(self) -> None:
        for index, name in enumerate(self.secret_names):
            if not _SECRET_NAME.match(name):
                raise ValueError(f"secret_names[{index}]: {name!r} must be lower-case letters, digits and dashes")
        if len(set(self.secret_names)) != len(self.secret_names):
            raise ValueError("secret_names: names must be unique")
        unknown = sorted(set(self.initial_values) - set(self.secret_names))
        if unknown:
            raise ValueError(f"initial_values: {', '.join(unknown)} not in secret_names")
        if not 7 <= self.key_deletion_window_days <= 30:
            raise ValueError(f"key_deletion_window_days: {self.key_deletion_window_days} is outside 7..30")
        if not 0 <= self.recovery_window_days <= 30:
            raise ValueError(f"recovery_window_days: {self.recovery_window_days} is outside 0..30")


class Secrets(pulumi.ComponentResource):
    """A rotating KMS customer key and Secrets Manager secrets encrypted with it.

    Outputs: `key_arn`, `key_id`, `secret_arns` (secret name → ARN; never values).
    """

    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    secret_arns: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rampart:index:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: secrets, buckets and logs",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=args.key_deletion_window_days,
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
                recovery_window_in_days=args.recovery_window_days,
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
