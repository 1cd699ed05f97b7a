"""The pack's contents: every policy of every domain, in one list."""

from __future__ import annotations

from pulumi_policy import Policy

from platform_facts import project
from policy_rules import (
    compute,
    cost,
    datastores,
    gpu,
    gpu_capacity,
    iam,
    keys,
    kubernetes,
    network,
    registry,
    residency,
    secrets,
    serving,
    serving_identity,
    state_store,
    storage,
)

__all__ = ["DOMAINS", "PACK_NAME", "all_policies", "policies_by_domain"]

PACK_NAME = project.PACK_NAME
DOMAINS = {
    "network": network,
    "storage": storage,
    "keys": keys,
    "datastores": datastores,
    "state_store": state_store,
    "registry": registry,
    "compute": compute,
    "iam": iam,
    "secrets": secrets,
    "kubernetes": kubernetes,
    "gpu": gpu,
    "gpu_capacity": gpu_capacity,
    "serving": serving,
    "serving_identity": serving_identity,
    "residency": residency,
    "cost": cost,
}


def policies_by_domain() -> dict[str, list[Policy]]:
    return {domain: list(module.POLICIES) for domain, module in DOMAINS.items()}


def all_policies() -> list[Policy]:
    policies = [policy for group in policies_by_domain().values() for policy in group]
    names = [policy.name for policy in policies]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"policy names must be unique; duplicated: {', '.join(duplicates)}")
    return policies
