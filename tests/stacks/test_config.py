"""The typed stack config: committed environments load, defaults are secure, bad values are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from platform_facts import project
from stacks.config import ConfigError, load_stack_config, read_stack_file
from stacks.plan import render

# Stack config keys and the loader's messages are `<namespace>:<key>`.
NAMESPACE = project.CONFIG_NAMESPACE

BASE = {
    "aws:region": "eu-west-1",
    project.config_key("environment"): "test",
    project.config_key("tags"): json.dumps({"owner": "ml", "cost_center": "cc-1"}),
}


def test_prod_gets_the_secure_highly_available_defaults() -> None:
    config = load_stack_config(*read_stack_file("prod"))
    assert config.network.availability_zones == 3
    assert config.network.nat == "per_az"
    assert config.deletion_protection is True
    assert config.spot_allowed is False
    assert config.log_retention_days >= 365
    assert config.audit_storage.retention_days >= 2555


def test_dev_is_cheap_by_explicit_override() -> None:
    config = load_stack_config(*read_stack_file("dev"))
    assert config.network.availability_zones == 2
    assert config.network.nat == "single"
    assert config.spot_allowed is True
    assert config.deletion_protection is False


def test_staging_has_prods_shape_with_shorter_retention() -> None:
    staging = load_stack_config(*read_stack_file("staging"))
    prod = load_stack_config(*read_stack_file("prod"))
    assert (staging.network.availability_zones, staging.network.nat) == (
        prod.network.availability_zones,
        prod.network.nat,
    )
    assert staging.log_retention_days < prod.log_retention_days


def test_omitted_keys_fall_back_to_secure_defaults() -> None:
    config = load_stack_config(BASE)
    assert config.deletion_protection and config.network.nat == "per_az"


def _with(key: str, value: object) -> dict[str, str]:
    """BASE with one dotted key set (`network.cidr`), JSON-encoded as the engine would."""
    top, _, rest = key.partition(".")
    values = dict(BASE)
    full = project.config_key(top)
    if rest:
        current = json.loads(values.get(full, "{}"))
        current[rest] = value
        values[full] = json.dumps(current)
    else:
        values[full] = value if isinstance(value, str) else json.dumps(value)
    return values


BAD_VALUES = [
    ("network.cidr", "8.8.0.0/16", f"{NAMESPACE}:network.cidr: 8.8.0.0/16 is not a private (RFC 1918) range"),
    ("network.cidr", "10.0.0.0/24", f"{NAMESPACE}:network.cidr: 10.0.0.0/24 must have a prefix between /16 and /22"),
    ("network.cidr", "10.0.0.1/16", f"{NAMESPACE}:network.cidr: '10.0.0.1/16' is not an IPv4 network"),
    ("network.availability_zones", 1, f"{NAMESPACE}:network.availability_zones: Input should be greater than or equal to 2"),
    ("network.availability_zones", 7, f"{NAMESPACE}:network.availability_zones: Input should be less than or equal to 6"),
    ("network.nat", "none", f"{NAMESPACE}:network.nat: Input should be 'single' or 'per_az'"),
    ("network.flow_log_retention_days", 0, f"{NAMESPACE}:network.flow_log_retention_days: Input should be greater than 0"),
    ("secrets.service_credentials", ["Bad_Name"], f"{NAMESPACE}:secrets.service_credentials: 'Bad_Name' must be lower-case"),
    ("secrets.service_credentials", ["a", "a"], f"{NAMESPACE}:secrets.service_credentials: names must be unique"),
    ("secrets.key_deletion_window_days", 3, f"{NAMESPACE}:secrets.key_deletion_window_days: Input should be greater than or equal to 7"),
    ("secrets.recovery_window_days", 31, f"{NAMESPACE}:secrets.recovery_window_days: Input should be less than or equal to 30"),
    ("model_storage.noncurrent_version_days", 0, f"{NAMESPACE}:model_storage.noncurrent_version_days: Input should be greater than 0"),
    ("audit_storage.retention_days", -1, f"{NAMESPACE}:audit_storage.retention_days: Input should be greater than 0"),
    (
        "audit_storage.archive_after_days",
        5000,
        f"{NAMESPACE}:audit_storage.archive_after_days: must be shorter than retention_days (2555) (got 5000)",
    ),
    ("tags.data_class", "secret", f"{NAMESPACE}:tags.data_class: Input should be 'public', 'internal', 'confidential' or 'regulated'"),
    ("tags.owner", "", f"{NAMESPACE}:tags.owner: String should have at least 1 character"),
    ("environment", "Prod!", f"{NAMESPACE}:environment: String should match pattern"),
    ("log_retention_days", "forever", f"{NAMESPACE}:log_retention_days: Input should be a valid integer"),
    ("deletion_protection", "maybe", f"{NAMESPACE}:deletion_protection: Input should be a valid boolean"),
    ("network.cidrr", "10.0.0.0/16", f"{NAMESPACE}:network.cidrr: unknown key"),
    ("nat", "single", f"{NAMESPACE}:nat: unknown key"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES, ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_a_bad_value_names_the_key_and_the_reason(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_stack_config(_with(key, value))
    assert message in str(raised.value)


def test_region_errors_name_the_aws_key() -> None:
    with pytest.raises(ConfigError, match=r"aws:region: String should match pattern"):
        load_stack_config({**BASE, "aws:region": "mars"})


def test_missing_required_keys_are_named() -> None:
    with pytest.raises(ConfigError) as raised:
        load_stack_config({"aws:region": "us-east-1"})
    assert f"{NAMESPACE}:environment: required but not set" in str(raised.value)
    assert f"{NAMESPACE}:tags: required but not set" in str(raised.value)


def test_a_secret_field_in_plain_text_is_refused() -> None:
    with pytest.raises(ConfigError, match=rf"{NAMESPACE}:model_hub_token: must be a secret"):
        load_stack_config({**BASE, project.config_key("model_hub_token"): "hf_plaintext"})
    config = load_stack_config({**BASE, project.config_key("model_hub_token"): "hf_x"}, frozenset({project.config_key("model_hub_token")}))
    assert config.model_hub_token is not None and "hf_x" not in repr(config)


def test_bad_config_fails_before_any_resource_is_declared() -> None:
    declared: list[object] = []
    with pytest.raises(ConfigError):
        render(_with("network.availability_zones", 9), program=declared.append)
    assert declared == []


def test_plan_cli_prints_the_key_and_reason_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.broken.yaml").write_text(
        f"config:\n  aws:region: us-east-1\n  {NAMESPACE}:environment: broken\n"
        f"  {NAMESPACE}:tags: {{owner: a, cost_center: b}}\n  {NAMESPACE}:network: {{nat: triple}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "broken", "--stacks-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert f"{NAMESPACE}:network.nat: Input should be 'single' or 'per_az'" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_cli_names_unknown_environments(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "qa", "--stacks-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "no stack file Pulumi.qa.yaml" in result.stderr
