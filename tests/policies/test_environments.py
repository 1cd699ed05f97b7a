"""Enforcement per environment: one level, per-policy overrides, settings from the committed stack files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from policy_rules.environments import ENVIRONMENTS, UNKNOWN_ENVIRONMENT
from policy_rules.pack import all_policies
from stacks.config import load_stack_config, read_stack_file
from tests.policies.harness import Mutation, RuleCases, evaluate
from tools.policy_config import policy_pack_config

ROOT = Path(__file__).resolve().parents[2]


def test_levels_are_advisory_in_dev_and_mandatory_in_prod() -> None:
    assert policy_pack_config("dev")["all"] == "advisory"
    assert policy_pack_config("prod")["all"] == "mandatory"
    assert policy_pack_config("dev")["ray-ports-not-exposed"]["enforcementLevel"] == "mandatory"


def test_overrides_and_settings_name_real_policies() -> None:
    names = {policy.name for policy in all_policies()}
    for environment, table in ENVIRONMENTS.items():
        assert set(table.overrides) <= names, environment
        assert set(table.settings) <= names, environment


def test_unknown_environment_fails_closed() -> None:
    assert UNKNOWN_ENVIRONMENT.level == "mandatory"
    assert policy_pack_config("sandbox")["all"] == "mandatory"


def test_settings_follow_the_committed_stack_and_gateway_config() -> None:
    for environment in ("dev", "staging", "prod"):
        document = policy_pack_config(environment)
        stack = load_stack_config(*read_stack_file(environment))
        assert document["gpu-spot-only-outside-prod"]["allowSpot"] is stack.spot_allowed
        gateway = document["gateway-auth-enabled"]["gatewayConfig"]
        assert gateway["environment"] == environment


def test_committed_gateway_configs_enforce_auth() -> None:
    for environment in ("dev", "staging", "prod"):
        document = policy_pack_config(environment)
        case = RuleCases(
            "gateway-auth-enabled", "", list, (), Mutation("x", None, ()), "", config=document["gateway-auth-enabled"]
        )
        assert evaluate(case, []) == [], environment


def test_a_gateway_config_without_managed_keys_fails_in_prod() -> None:
    settings = policy_pack_config("prod")["gateway-auth-enabled"]
    weak = {
        **settings["gatewayConfig"],
        "keys": {"source": "file", "path": "keys.yaml"},
        "public_paths": ["/v1/models"],
    }
    case = RuleCases(
        "gateway-auth-enabled", "", list, (), Mutation("x", None, ()), "", config={**settings, "gatewayConfig": weak}
    )
    assert evaluate(case, []) == [
        "The gateway config must take API keys from one of secrets_manager (keys.source is file).",
        "The gateway config must serve only health checks without a key (public_paths has /v1/models).",
    ]


def test_cli_prints_the_policy_pack_config_document() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.policy_config", "prod"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(result.stdout) == policy_pack_config("prod")
