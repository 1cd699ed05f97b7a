"""Enforcement per environment: one level per environment, per-policy overrides, per-policy settings.

    python -m policies.environments prod > prod-policy-config.json
    pulumi preview --stack prod --policy-pack policies --policy-pack-config prod-policy-config.json

The document is Pulumi's policy-pack config format (`{"all": level, "<policy>": {"enforcementLevel":
level, <settings>}}`); the offline check (`make policy`) sends the same document to the pack through
the analyzer's Configure call. Settings that follow from the stack itself (spot allowed, the
gateway's config) are read from the committed stack and service config files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacks.config import ConfigError, load_stack_config, read_stack_file

__all__ = ["ENVIRONMENTS", "UNKNOWN_ENVIRONMENT", "EnvironmentPolicy", "environment_policy", "policy_pack_config"]

GATEWAY_CONFIG_DIR = Path(__file__).resolve().parent.parent / "services" / "config"
Level = str  # "advisory" | "mandatory" | "disabled"


@dataclass(frozen=True)
class EnvironmentPolicy:
    """How the pack is enforced in one environment."""

    level: Level
    """Level of every policy not overridden."""
    overrides: Mapping[str, Level] = field(default_factory=dict)
    """Per-policy levels that differ from `level`."""
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-policy settings that differ from the policies' defaults."""


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
        overrides={"model-images-pinned-by-digest": "advisory", "k8s-images-pinned": "advisory"},
        settings={
            "gpu-instance-families-allowed": {"allowedFamilies": ["g5", "g6", "g6e"]},
            "monthly-cost-within-budget": {"monthlyBudgetUsd": 30000},
        },
    ),
    "prod": EnvironmentPolicy(
        level="mandatory",
        settings={"monthly-cost-within-budget": {"monthlyBudgetUsd": 150000}},
    ),
}
# An environment the table does not know gets prod's strictness: fail closed.
UNKNOWN_ENVIRONMENT = ENVIRONMENTS["prod"]


def environment_policy(environment: str) -> EnvironmentPolicy:
    return ENVIRONMENTS.get(environment, UNKNOWN_ENVIRONMENT)


def _stack_settings(environment: str) -> dict[str, dict[str, Any]]:
    """Settings that follow from the committed stack and gateway config of this environment."""
    settings: dict[str, dict[str, Any]] = {}
    try:
        config = load_stack_config(*read_stack_file(environment))
    except ConfigError:
        config = None  # no such stack: the defaults (strictest) apply
    if config is not None:
        settings["gpu-spot-only-outside-prod"] = {"allowSpot": config.spot_allowed}
    gateway_file = GATEWAY_CONFIG_DIR / f"gateway-{environment}.yaml"
    if gateway_file.is_file():
        settings["gateway-auth-enabled"] = {"gatewayConfig": yaml.safe_load(gateway_file.read_text()) or {}}
    return settings


def policy_pack_config(environment: str) -> dict[str, Any]:
    """The policy-pack config document for one environment."""
    policy = environment_policy(environment)
    document: dict[str, Any] = {"all": policy.level}
    merged: dict[str, dict[str, Any]] = {}
    for source in (policy.settings, _stack_settings(environment)):
        for name, values in source.items():
            merged.setdefault(name, {}).update(values)
    for name in sorted(set(merged) | set(policy.overrides)):
        entry: dict[str, Any] = dict(merged.get(name, {}))
        if name in policy.overrides:
            entry["enforcementLevel"] = policy.overrides[name]
        document[name] = entry
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.environments", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="stack name (dev, staging, prod)")
    options = parser.parse_args(argv)
    json.dump(policy_pack_config(options.environment), sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
