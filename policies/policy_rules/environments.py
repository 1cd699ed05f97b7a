"""Enforcement per environment: one level per environment, per-policy overrides, per-policy settings.

Pure data, read by the pack's entry point (the default levels when the CLI sends no config) and by
`tools/policy_config.py`, which turns a row into Pulumi's policy-pack config document and adds the
settings that follow from the committed stack and gateway config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["ENVIRONMENTS", "UNKNOWN_ENVIRONMENT", "EnvironmentPolicy", "Level", "environment_policy"]

Level = Literal["advisory", "mandatory", "disabled"]


@dataclass(frozen=True)
class EnvironmentPolicy:
    """How the pack is enforced in one environment."""

    level: Level
    """Level of every policy not overridden."""
    overrides: Mapping[str, Level] = field(default_factory=dict)
    """Per-policy levels that differ from `level`."""
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-policy settings that differ from the policies' defaults."""


# The platform encrypts node volumes under the AWS-managed aws/ebs key (components/ebs_encryption.py): a
# customer default key needs a key-policy grant for the Auto Scaling service-linked role and Karpenter's
# controller first. Until the platform promises that, the rule stays off in every environment.
EBS_KEY_NOT_PROMISED: dict[str, Level] = {"ebs-customer-managed-key": "disabled"}

ENVIRONMENTS: dict[str, EnvironmentPolicy] = {
    # Dev is where things are tried: violations are shown, not blocking, except the few that are
    # dangerous anywhere (an open admin port or Ray dashboard is exploited within hours).
    "dev": EnvironmentPolicy(
        level="advisory",
        overrides={
            "no-public-admin-ingress": "mandatory",
            "ray-ports-not-exposed": "mandatory",
            "iam-no-star-on-star": "mandatory",
            "aws-required-tags": "mandatory",
            **EBS_KEY_NOT_PROMISED,
        },
        settings={
            "k8s-images-pinned": {"requireDigest": False},
            "gpu-instance-families-allowed": {"allowedFamilies": ["g5", "g6"]},
            "gateway-auth-enabled": {"allowedKeySources": ["file", "secrets_manager"]},
            "monthly-cost-within-budget": {"monthlyBudgetUsd": 8000},
        },
    ),
    "staging": EnvironmentPolicy(
        level="mandatory",
        overrides={
            "model-images-pinned-by-digest": "advisory",
            "k8s-images-pinned": "advisory",
            **EBS_KEY_NOT_PROMISED,
        },
        settings={
            "gpu-instance-families-allowed": {"allowedFamilies": ["g5", "g6", "g6e"]},
            "monthly-cost-within-budget": {"monthlyBudgetUsd": 30000},
        },
    ),
    "prod": EnvironmentPolicy(
        level="mandatory",
        overrides=EBS_KEY_NOT_PROMISED,
        settings={"monthly-cost-within-budget": {"monthlyBudgetUsd": 150000}},
    ),
}
# An environment the table does not know gets prod's strictness: fail closed.
UNKNOWN_ENVIRONMENT = ENVIRONMENTS["prod"]


def environment_policy(environment: str) -> EnvironmentPolicy:
    return ENVIRONMENTS.get(environment, UNKNOWN_ENVIRONMENT)
