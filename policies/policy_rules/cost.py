"""Cost and ownership policies: every resource says who pays for it, and the stack fits its budget.

The monthly estimate is the platform's one cost model (`platform_facts.cost`, dated price tables in
`platform_facts/prices/`), computed over what the plan commits to: EKS control planes, node groups at
their desired size (spot priced as spot), NAT gateways and interface endpoints per zone. Karpenter
capacity is bounded by its NodePool limits (`karpenter-nodepool-limits`), not estimated; on-prem
amortisation is stack config, not a resource, so it is not part of the plan's estimate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from platform_facts.cost import BilledResource, CostEstimate, cost_inputs, estimate_monthly_cost, latest_price_table
from platform_facts.kubernetes import REQUIRED_LABELS
from platform_facts.tags import REQUIRED_TAGS, is_taggable
from policy_rules.core import Report, Setting, merged_tags, resource_policy, stack_policy
from policy_rules.workloads import is_kubernetes, kind_of, labels_of

__all__ = ["POLICIES", "plan_estimate"]


def _region(resources: Iterable[PolicyResource], default: str) -> str:
    for resource in resources:
        if resource.resource_type == "pulumi:providers:aws" and isinstance(resource.props.get("region"), str):
            return str(resource.props["region"])
    return default


def plan_estimate(resources: list[PolicyResource], default_region: str) -> CostEstimate:
    """The monthly estimate of a plan; raises ValueError naming what cannot be priced."""
    prices = latest_price_table(_region(resources, default_region))
    billed = (BilledResource(resource.resource_type, resource.name, resource.props) for resource in resources)
    return estimate_monthly_cost(cost_inputs(billed, prices), prices)


def _budget(args: StackValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
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


def _tags(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if not args.resource_type.startswith("aws:") or not is_taggable(args.resource_type):
        return
    tags = merged_tags(args.props, args.provider.props if args.provider is not None else None)
    missing = [tag for tag in settings["requiredTags"] if not tags.get(tag)]
    if missing:
        report(f"{args.name} must carry the tags {', '.join(missing)}.")


def _labels(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
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
                list(REQUIRED_LABELS),
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
