"""Compute policies: instance metadata, and the images GPU nodes boot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policy_rules.core import Report, Setting, dig, items, number, resource_policy, strings
from policy_rules.gpu import is_gpu_instance_type

__all__ = ["EC2_NODE_CLASS", "POLICIES"]

EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"


def allows_imdsv1(metadata_options: Any) -> bool:
    """Whether instances started with these metadata options answer IMDSv1 (token-less) requests.

    Tokens are optional unless `httpTokens` is `required`; with the endpoint disabled nothing answers.
    """
    if dig(metadata_options, "httpEndpoint") == "disabled":
        return False
    return bool(dig(metadata_options, "httpTokens") != "required")


def _imds_instances(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:ec2/instance:Instance" and allows_imdsv1(args.props.get("metadataOptions")):
        report(f"Instance {args.name} must require IMDSv2 (metadataOptions.httpTokens = required).")


def _imds_launch_templates(args: ResourceValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    if args.resource_type in (LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION):
        if allows_imdsv1(args.props.get("metadataOptions")):
            kind = "Launch template" if args.resource_type == LAUNCH_TEMPLATE else "Launch configuration"
            report(f"{kind} {args.name} must require IMDSv2 (metadataOptions.httpTokens = required).")
    elif args.resource_type == EC2_NODE_CLASS:
        # Karpenter defaults to `required`; only an explicit other value is a downgrade.
        tokens = dig(args.props, "spec", "metadataOptions", "httpTokens")
        if tokens is not None and tokens != "required":
            report(f"EC2NodeClass {args.name} must require IMDSv2 (spec.metadataOptions.httpTokens = required).")


def _hop_limit(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    # A pod is one network hop further from the node's metadata endpoint than the node itself: with a
    # limit above 1 it can fetch the node role's credentials (the GPU node role's, on GPU nodes).
    if args.resource_type in (LAUNCH_TEMPLATE, LAUNCH_CONFIGURATION):
        field, options = "metadataOptions", args.props.get("metadataOptions")
        kind = "Launch template" if args.resource_type == LAUNCH_TEMPLATE else "Launch configuration"
    elif args.resource_type == EC2_NODE_CLASS:
        field, options, kind = "spec.metadataOptions", dig(args.props, "spec", "metadataOptions"), "EC2NodeClass"
    else:
        return
    limit = number(dig(options, "httpPutResponseHopLimit"))
    if limit is not None and limit > settings["maxHopLimit"]:
        report(
            f"{kind} {args.name} must set {field}.httpPutResponseHopLimit to {settings['maxHopLimit']}, not {limit}, "
            "so that pods cannot reach the node role's credentials."
        )


def _gpu_ami(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type == "aws:eks/nodeGroup:NodeGroup":
        if not any(is_gpu_instance_type(t) for t in strings(args.props.get("instanceTypes"))):
            return
        ami_type = args.props.get("amiType")
        if ami_type not in settings["allowedAmiTypes"]:
            report(f"GPU node group {args.name} must use an approved GPU AMI type, not {ami_type or 'the default'}.")
    elif args.resource_type == EC2_NODE_CLASS:
        for term in items(dig(args.props, "spec", "amiSelectorTerms")):
            alias = dig(term, "alias")
            family = alias.split("@", 1)[0] if isinstance(alias, str) else None
            if family is None or family not in settings["allowedAmiFamilies"]:
                chosen = alias or "a term without an alias"
                report(f"EC2NodeClass {args.name} must select an approved AMI family by alias, not {chosen}.")


POLICIES = [
    resource_policy("imdsv2-required-instances", "EC2 instances must require IMDSv2.", _imds_instances),
    resource_policy(
        "imdsv2-required-launch-templates",
        "Launch templates, launch configurations and Karpenter node classes must require IMDSv2.",
        _imds_launch_templates,
    ),
    resource_policy(
        "imds-hop-limit-one",
        "Node launch templates must keep the instance metadata one hop away, out of pods' reach.",
        _hop_limit,
        {"maxHopLimit": Setting("integer", 1, "Highest metadata response hop limit allowed.")},
    ),
    resource_policy(
        "gpu-approved-ami",
        "GPU nodes must boot an approved NVIDIA-enabled AMI.",
        _gpu_ami,
        {
            "allowedAmiTypes": Setting(
                "array",
                [
                    "AL2023_x86_64_NVIDIA",
                    "AL2023_ARM_64_NVIDIA",
                    "BOTTLEROCKET_x86_64_NVIDIA",
                    "BOTTLEROCKET_ARM_64_NVIDIA",
                ],
                "EKS managed node group AMI types allowed for GPU instance types.",
            ),
            "allowedAmiFamilies": Setting(
                "array", ["al2023", "bottlerocket"], "Karpenter EC2NodeClass AMI alias families allowed."
            ),
        },
    ),
]
