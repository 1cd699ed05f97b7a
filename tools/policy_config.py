"""The policy-pack config document of one environment, for the Pulumi CLI and the offline check.

    python -m tools.policy_config prod > prod-policy-config.json
    pulumi preview --stack prod --policy-pack policies --policy-pack-config prod-policy-config.json

The document is Pulumi's policy-pack config format (`{"all": level, "<policy>": {"enforcementLevel":
level, <settings>}}`): the environment's row of `policy_rules.environments`, plus the settings that
follow from the stack itself (spot allowed, the gateway's config), read from the committed stack and
service config files. The offline check (`make policy`) sends the same document to the pack through
the analyzer's Configure call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from policy_rules.environments import environment_policy
from policy_rules.kubernetes import DEFAULT_ALLOWED_REGISTRIES
from stacks.config import ConfigError, load_stack_config, read_stack_file

__all__ = ["GATEWAY_CONFIG_DIR", "main", "policy_pack_config"]

GATEWAY_CONFIG_DIR = Path(__file__).resolve().parent.parent / "services" / "config"


def _stack_settings(environment: str) -> dict[str, dict[str, Any]]:
    """Settings that follow from the committed stack and gateway config of this environment."""
    settings: dict[str, dict[str, Any]] = {}
    try:
        config = load_stack_config(*read_stack_file(environment))
    except ConfigError:
        config = None  # no such stack: the defaults (strictest) apply
    if config is not None:
        settings["gpu-spot-only-outside-prod"] = {"allowSpot": config.spot_allowed}
        mirror = config.serving_image.onprem_registry if config.serving_image is not None else None
        if mirror is not None:
            # On-prem pods pull the serving image from the mirror the stack names (they cannot reach ECR).
            settings["k8s-images-from-allowed-registries"] = {
                "allowedRegistries": [*DEFAULT_ALLOWED_REGISTRIES, f"{mirror}/*"]
            }
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
    parser = argparse.ArgumentParser(prog="python -m tools.policy_config", description=__doc__.splitlines()[0])
    parser.add_argument("environment", help="stack name (dev, staging, prod)")
    options = parser.parse_args(argv)
    json.dump(policy_pack_config(options.environment), sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
