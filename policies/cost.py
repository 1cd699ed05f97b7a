"""Cost and ownership policies: every resource says who pays for it, and the stack fits its budget.

The monthly estimate counts what a plan commits to (NAT gateways, EKS control planes, endpoints,
the desired size of node groups, instances); Karpenter capacity is bounded by its NodePool limits
(see `karpenter-nodepool-limits`), not estimated. Prices are us-east-1 on-demand list prices in
USD (730 hours a month); a fork keeps `HOURLY_PRICES` current or overrides the budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from components.tagging import REQUIRED_TAGS, is_taggable
from policies.core import Setting, dig, items, merged_tags, number, resource_policy, stack_policy, strings
from policies.workloads import is_kubernetes, kind_of, labels_of

__all__ = ["HOURLY_PRICES", "POLICIES", "UnpricedInstanceType", "estimate_monthly_cost"]

HOURS_PER_MONTH = 730
HOURLY_PRICES = {
    # per resource
    "aws:ec2/natGateway:NatGateway": 0.045,
    "aws:eks/cluster:Cluster": 0.10,
    "aws:ec2/eip:Eip": 0.005,  # every public IPv4 address is billed
    "interface-endpoint-per-zone": 0.01,
    # per instance
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
    "m6i.2xlarge": 0.384,
    "m7i.large": 0.1008,
    "m7i.xlarge": 0.2016,
    "m7i.2xlarge": 0.4032,
    "c6i.xlarge": 0.17,
    "r6i.xlarge": 0.252,
    "g5.xlarge": 1.006,
    "g5.2xlarge": 1.212,
    "g5.4xlarge": 1.624,
    "g5.12xlarge": 5.672,
    "g5.48xlarge": 16.288,
    "g6.xlarge": 0.805,
    "g6.2xlarge": 0.978,
    "g6.4xlarge": 1.323,
    "g6.12xlarge": 4.602,
    "g6e.xlarge": 1.861,
    "g6e.2xlarge": 2.242,
    "g6e.12xlarge": 10.493,
    "p4d.24xlarge": 21.958,
    "p5.48xlarge": 55.04,
}


class UnpricedInstanceType(ValueError):
    """The estimate met an instance type that `HOURLY_PRICES` does not know."""


def _instances(resource: PolicyResource) -> Iterable[tuple[str, int]]:
    props = resource.props
    if resource.resource_type == "aws:eks/nodeGroup:NodeGroup":
        count = number(dig(props, "scalingConfig", "desiredSize"))
        for instance_type in strings(props.get("instanceTypes"))[:1] or ["t3.medium"]:  # EKS defaults to t3.medium
            yield instance_type, int(count) if count is not None else 1
    elif resource.resource_type == "aws:ec2/instance:Instance":
        yield str(props.get("instanceType")), 1


def estimate_monthly_cost(resources: Iterable[PolicyResource]) -> float:
    """Monthly USD the plan commits to; raises `UnpricedInstanceType` naming an unknown instance type."""
    hourly = 0.0
    for resource in resources:
        hourly += HOURLY_PRICES.get(resource.resource_type, 0.0)
        if resource.resource_type == "aws:ec2/vpcEndpoint:VpcEndpoint" and resource.props.get("vpcEndpointType") == "Interface":
            zones = len(list(items(resource.props.get("subnetIds")))) or 1
            hourly += HOURLY_PRICES["interface-endpoint-per-zone"] * zones
        for instance_type, count in _instances(resource):
            if instance_type not in HOURLY_PRICES:
                raise UnpricedInstanceType(f"{resource.name}: no price for instance type {instance_type}")
            hourly += HOURLY_PRICES[instance_type] * count
    return hourly * HOURS_PER_MONTH


def _budget(args: StackValidationArgs, report: ReportViolation, settings: Mapping[str, Any]) -> None:
    try:
        estimate = estimate_monthly_cost(args.resources)
    except UnpricedInstanceType as error:
        report(f"The stack's cost must be estimable: {error}; add its price to policies/cost.py.")
        return
    if estimate > settings["monthlyBudgetUsd"]:
        report(f"The stack's estimated monthly cost must stay within the budget of "
               f"${settings['monthlyBudgetUsd']:,.0f} (estimate ${estimate:,.0f}).")


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
                ["app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "rampart.dev/environment",
                 "rampart.dev/data-class"],
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
        {"monthlyBudgetUsd": Setting("number", 50000, "Monthly budget in USD.")},
    ),
]
