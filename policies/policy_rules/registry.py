"""Image registry policies: the ECR repositories the serving images come from.

An image that is scanned when it is pushed and whose tag can never point at other bytes is the
image the stack's digest or tag pins; repository encryption is in `keys` with the other customer keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policy_rules.core import Report, dig, resource_policy

__all__ = ["ECR_REPOSITORY", "POLICIES"]

ECR_REPOSITORY = "aws:ecr/repository:Repository"


def _scan_on_push(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == ECR_REPOSITORY and dig(args.props, "imageScanningConfiguration", "scanOnPush") is not True:
        report(f"ECR repository {args.name} must scan images on push (imageScanningConfiguration.scanOnPush).")


def _immutable_tags(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    # Unset is MUTABLE, ECR's default.
    if args.resource_type == ECR_REPOSITORY and args.props.get("imageTagMutability") != "IMMUTABLE":
        report(f"ECR repository {args.name} must make image tags immutable (imageTagMutability = IMMUTABLE).")


POLICIES = [
    resource_policy("ecr-scan-on-push", "ECR repositories must scan every image on push.", _scan_on_push),
    resource_policy("ecr-immutable-tags", "ECR repositories must not let a tag move to other bytes.", _immutable_tags),
]
