"""`EbsEncryption`: every new EBS volume of the region encrypted, whether or not its declaration says so.

EBS encryption by default is an account setting per region: once on, every new volume and snapshot
copy is encrypted, including the root volumes that instances and node groups get from their AMI
without a block-device mapping saying so (the `block-devices-encrypted` policy accepts those only
with this setting in the stack). The key is the AWS-managed `aws/ebs` unless `default_kms_key_arn`
names a customer key; such a key's policy must let the Auto Scaling service-linked role and
Karpenter's controller use it through EC2, or node groups fail to launch.

Deleting the component turns encryption by default off again for the region.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from platform_facts.project import type_token

__all__ = ["EbsEncryption", "EbsEncryptionArgs"]


@dataclass(frozen=True)
class EbsEncryptionArgs:
    """Inputs of `EbsEncryption`."""

    default_kms_key_arn: pulumi.Input[str] | None = None
    """Customer key new volumes are encrypted with; None keeps the AWS-managed `aws/ebs` key."""


class EbsEncryption(pulumi.ComponentResource):
    """EBS encryption by default for the provider's region, optionally under a customer default key.

    Outputs: `enabled`.
    """

    enabled: pulumi.Output[bool | None]

    def __init__(self, name: str, args: EbsEncryptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("EbsEncryption"), name, None, opts)
        by_default = aws.ebs.EncryptionByDefault(
            f"{name}-by-default", enabled=True, opts=pulumi.ResourceOptions(parent=self)
        )
        if args.default_kms_key_arn is not None:
            aws.ebs.DefaultKmsKey(
                f"{name}-default-key",
                key_arn=args.default_kms_key_arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[by_default]),
            )
        self.enabled = by_default.enabled
        self.register_outputs({"enabled": self.enabled})
