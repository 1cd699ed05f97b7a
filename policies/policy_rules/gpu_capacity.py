"""GPU capacity that grows: every GPU pool that may change size has something that changes it.

A managed node group between `minSize` and `maxSize` stays at its desired size unless an autoscaler
resizes it; pending GPU pods then wait forever. cluster-autoscaler owns the groups it discovers by tag;
a Karpenter `NodePool` is owned by the Karpenter controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from platform_facts.eks import AUTOSCALER_ENABLED_TAG
from policy_rules.core import Report, dig, is_mapping, number, stack_policy
from policy_rules.gpu import NODE_GROUP, NODE_POOL, provisions_gpus

__all__ = ["POLICIES", "runs_chart"]

RELEASE = "kubernetes:helm.sh/v3:Release"


def runs_chart(resources: list[PolicyResource], chart: str) -> bool:
    """Whether the stack installs a Helm release of `chart` (by name, from any repository)."""
    return any(
        resource.resource_type == RELEASE and str(resource.props.get("chart") or "").rsplit("/", 1)[-1] == chart
        for resource in resources
    )


def _owners(args: StackValidationArgs, report: Report, _: Mapping[str, Any]) -> None:
    autoscaler = runs_chart(args.resources, "cluster-autoscaler")
    karpenter = runs_chart(args.resources, "karpenter")
    for resource in args.resources:
        if not provisions_gpus(resource.resource_type, resource.props):
            continue
        if resource.resource_type == NODE_POOL and not karpenter:
            report(
                f"GPU NodePool {resource.name} must have an owner: the stack must run the Karpenter controller.",
                resource.urn,
            )
        if resource.resource_type != NODE_GROUP:
            continue
        low = number(dig(resource.props, "scalingConfig", "minSize"))
        high = number(dig(resource.props, "scalingConfig", "maxSize"))
        if low is None or high is None or low >= high:
            continue  # a fixed-size group needs no owner
        span = f"scales between {int(low)} and {int(high)} nodes"
        if not autoscaler:
            report(f"GPU node group {resource.name} {span}, so the stack must run cluster-autoscaler.", resource.urn)
        tags = resource.props.get("tags")
        if not (is_mapping(tags) and tags.get(AUTOSCALER_ENABLED_TAG) == "true"):
            report(
                f"GPU node group {resource.name} {span}, so it must carry the tag {AUTOSCALER_ENABLED_TAG}=true "
                "for cluster-autoscaler to discover it.",
                resource.urn,
            )


POLICIES = [
    stack_policy(
        "gpu-pools-have-autoscaling-owner",
        "Every GPU pool that can change size must have an autoscaler that changes it.",
        _owners,
    ),
]
