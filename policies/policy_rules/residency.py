"""Hybrid and data-residency policies: regulated data stays on premises or in allowed regions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from platform_facts.project import PROJECT_NAME, label, tag
from policy_rules.core import Report, Setting, merged_tags, resource_policy
from policy_rules.workloads import is_kubernetes, kind_of, labels_of

__all__ = ["POLICIES"]

REGULATED = "regulated"


def _on_prem(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if not is_kubernetes(args.resource_type):
        return
    labels = labels_of(args.props)
    if not any(labels.get(key) == REGULATED for key in settings["dataClassLabels"]):
        return
    provider = args.provider
    provider_name = f"{provider.name} {provider.urn}" if provider is not None else ""
    if not any(marker in provider_name for marker in settings["onPremProviderMarkers"]):
        where = provider.name if provider is not None else "the default provider"
        report(
            f"{kind_of(args.resource_type)} {args.name} is labelled data-class regulated, so it must be deployed "
            f"with the on-prem cluster's provider, not {where}."
        )


def _regions(args: ResourceValidationArgs, report: Report, settings: Mapping[str, Any]) -> None:
    if args.resource_type != "aws:s3/bucket:Bucket":
        return
    provider_props = args.provider.props if args.provider is not None else None
    if merged_tags(args.props, provider_props).get(settings["dataClassTag"]) != REGULATED:
        return
    region = args.props.get("region") or (provider_props.get("region") if provider_props is not None else None)
    if region not in settings["allowedRegions"]:
        report(
            f"Regulated bucket {args.name} must be in one of {', '.join(settings['allowedRegions'])}, "
            f"not {region or 'an unknown region'}."
        )


POLICIES = [
    resource_policy(
        "regulated-workloads-on-prem",
        "Kubernetes objects labelled data-class regulated must run on the on-prem cluster.",
        _on_prem,
        {
            "dataClassLabels": Setting(
                "array",
                [label("data-class"), f"{PROJECT_NAME}/data-class", "data-class"],
                "Labels that carry the data class.",
            ),
            "onPremProviderMarkers": Setting(
                "array", ["onprem", "on-prem"], "Substrings of the on-prem cluster provider's name or URN."
            ),
        },
    ),
    resource_policy(
        "regulated-buckets-allowed-regions",
        "Buckets holding regulated data must be in an allowed region.",
        _regions,
        {
            "dataClassTag": Setting("string", tag("data-class"), "Tag that carries the data class."),
            "allowedRegions": Setting(
                "array", ["us-east-1", "us-east-2", "us-west-2"], "Regions regulated data may be stored in."
            ),
        },
    ),
]
