"""Cost and ownership policies: every resource says who pays for it, and the stack fits its budget.

The monthly estimate is the project's own (`components.cost`, dated price tables in
`components/prices/`), computed over what the plan commits to: EKS control planes, node groups at
their desired size (spot priced as spot), NAT gateways and interface endpoints per zone. Karpenter
capacity is bounded by its NodePool limits (`karpenter-nodepool-limits`), not estimated; on-prem
amortisation is stack config, not a resource, so it is not part of the plan's estimate.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from components.cost import CostEstimate, CostInputs, NodePoolUsage, estimate_monthly_cost, latest_price_table
from components.tagging import REQUIRED_TAGS
from policies.core import Setting, dig, items, merged_tags, number, resource_policy, stack_policy, strings
from policies.workloads import is_kubernetes, kind_of, labels_of

__all__ = ["POLICIES", "cost_inputs", "is_taggable", "plan_estimate"]

DEFAULT_NODE_GROUP_TYPE = "t3.medium"  # what EKS launches when a node group names no instance type


@functools.cache
def _aws_sdk_dir() -> Path | None:
    spec = importlib.util.find_spec("pulumi_aws")
    return Path(spec.origin).parent if spec is not None and spec.origin else None


@functools.cache
def is_taggable(type_token: str) -> bool:
    """Whether an AWS resource type has `tags_all`, read from the pulumi-aws SDK's source.

    Same answer as `components.tagging.is_taggable`, without importing the SDK modules: importing
    the thirty-odd modules of a stack costs the pack about 1.6 s per start on a 2-core machine.
    """
    package, _, rest = type_token.partition(":")
    module_path, _, class_name = rest.partition(":")
    module, _, file_part = module_path.partition("/")
    sdk = _aws_sdk_dir()
    if package != "aws" or not class_name or sdk is None:
        return False
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", file_part).lower()
    source = sdk / snake if module == "index" else sdk / module / snake
    try:
        text = source.with_suffix(".py").read_text()
    except OSError:
        return False
    return f"class {class_name}(pulumi.CustomResource)" in text and "def tags_all(self)" in text


def cost_inputs(resources: Iterable[PolicyResource]) -> CostInputs:
    """What the plan bills by the hour, in the cost model's terms."""
    resources = list(resources)
    pools = []
    for resource in resources:
        if resource.resource_type == "aws:eks/nodeGroup:NodeGroup":
            desired = number(dig(resource.props, "scalingConfig", "desiredSize"))
            instance_type = (strings(resource.props.get("instanceTypes")) or [DEFAULT_NODE_GROUP_TYPE])[0]
            capacity = "spot" if resource.props.get("capacityType") == "SPOT" else "on_demand"
            pools.append(NodePoolUsage(resource.name, instance_type, int(desired or 0), capacity))
    endpoint_zones = sum(
        max(1, len(list(items(resource.props.get("subnetIds")))))
        for resource in resources
        if resource.resource_type == "aws:ec2/vpcEndpoint:VpcEndpoint"
        and resource.props.get("vpcEndpointType") == "Interface"
    )
    return CostInputs(
        eks_clusters=sum(r.resource_type == "aws:eks/cluster:Cluster" for r in resources),
        node_pools=pools,
        nat_gateways=sum(r.resource_type == "aws:ec2/natGateway:NatGateway" for r in resources),
        interface_endpoint_zones=endpoint_zones,
    )


def _region(resources: Iterable[PolicyResource], default: str) -> str:
    for resource in resources:
        if resource.resource_type == "pulumi:providers:aws" and isinstance(resource.props.get("region"), str):
            return str(resource.props["region"])
    return default


def plan_estimate(resources: list[PolicyResource], default_region: str) -> CostEstimate:
    """The monthly estimate of a plan; raises ValueError naming what cannot be priced."""
    return estimate_monthly_cost(cost_inputs(resources), latest_price_table(_region(resources, default_region)))


def _budget(args: StackValidationArgs, report: ReportViolation, settings: Mapping[str, Any]) -> None:
    try:
        estimate = plan_estimate(args.resources, settings["defaultRegion"])
    except ValueError as error:
        report(f"The stack's cost must be estimable: {error}.")
        return
    if estimate.total_usd > settings["monthlyBudgetUsd"]:
        report(
            f"The stack's estimated monthly cost must stay within the budget of "
            f"${settings['monthlyBudgetUsd']:,.0f} (estimate ${estimate.total_usd:,.0f})."
        )


def _tags(args: ResourceValidationArgs, report: ReportViolation, settings: Mapping[str, Any]) -> None:
    if not args.resource_type.startswith("aws:") or not is_taggable(args.resource_type):
        return
    tags = merged_tags(args.props, args.provider.props if args.provider is not None else None)
    missing = [tag for tag in settings["requiredTags"] if not tags.get(tag)]
    if missing:
        report(f"{args.name} must carry the tags {', '.join(missing)}.")


def _labels(args: ResourceValidationArgs, report: ReportViolation, settings: Mapping[str, Any]) -> None:
    kind = kind_of(args.resource_type)
    # `*Patch` resources edit objects someone else owns (nodes, system objects): their labels are not ours.
    if not is_kubernetes(args.resource_type) or kind in settings["exemptKinds"] or kind.endswith("Patch"):
        return
    labels = labels_of(args.props)
    missing = [label for label in settings["requiredLabels"] if not labels.get(label)]
    if missing:
        report(f"{kind} {args.name} must carry the labels {', '.join(missing)}.")


POLICIES = [
    resource_policy(
        "aws-required-tags",
        "Taggable AWS resources must carry the platform's ownership and data-class tags.",
        _tags,
        {"requiredTags": Setting("array", list(REQUIRED_TAGS), "Tags every taggable AWS resource must carry.")},
    ),
    resource_policy(
        "k8s-required-labels",
        "Kubernetes objects must carry the platform's ownership labels.",
        _labels,
        {
            "requiredLabels": Setting(
                "array",
                [
                    "app.kubernetes.io/part-of",
                    "app.kubernetes.io/managed-by",
                    "rampart.dev/environment",
                    "rampart.dev/data-class",
                ],
                "Labels every object must carry: what it belongs to, who manages it, environment and data class.",
            ),
            "exemptKinds": Setting(
                "array", ["CustomResourceDefinition", "Namespace"], "Kinds that need not carry the labels."
            ),
        },
    ),
    stack_policy(
        "monthly-cost-within-budget",
        "The stack's estimated monthly cost must stay within the environment's budget.",
        _budget,
        {
            "monthlyBudgetUsd": Setting("number", 50000, "Monthly budget in USD."),
            "defaultRegion": Setting("string", "us-east-1", "Region priced when the plan has no AWS provider."),
        },
    ),
]
